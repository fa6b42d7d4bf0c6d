"""Images made ready for Instagram: checked, oriented, RGB, within its ratios, a JPEG of at most 8 MB.

Pillow only, no models: services store the ``PreparedImage`` this module returns.
"""

from __future__ import annotations

import io
import math
import warnings
from dataclasses import dataclass
from fractions import Fraction
from typing import IO

from django.core.exceptions import ValidationError
from PIL import Image, ImageDraw, ImageFont, ImageOps, UnidentifiedImageError

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_PIXELS = 40_000_000
INSTAGRAM_MAX_BYTES = 8 * 1024 * 1024
INSTAGRAM_MAX_WIDTH = 1440
MIN_RATIO, MAX_RATIO = 4 / 5, 1.91  # width / height
# A story fills a phone's screen: 9:16, portrait, is its own shape; a feed image is shown whole.
STORY_MIN_RATIO = 9 / 16
FIT_CHOICES = [("none", "Keep as is"), ("crop", "Crop to fit"), ("pad", "Pad with a border")]

# Pillow calls a JPEG with multi-picture data, as many phones write, "MPO".
ACCEPTED_FORMATS = frozenset({"JPEG", "MPO", "PNG", "WEBP"})
NOT_AN_IMAGE = "This file is not a JPEG, PNG or WebP image."
WHITE = (255, 255, 255)
# Tried in order until the JPEG fits INSTAGRAM_MAX_BYTES; below the last, the image shrinks instead.
JPEG_QUALITIES = (90, 82, 74, 66)


@dataclass(frozen=True)
class PreparedImage:
    content: bytes  # a JPEG
    width: int
    height: int


def prepare_upload(file: IO[bytes], *, fit: str = "none", story: bool = False) -> PreparedImage:
    """Check an uploaded image and make it an Instagram-ready JPEG.

    ``fit`` says what to do with an aspect ratio Instagram refuses: "none" refuses the image,
    "crop" centre-crops it, "pad" adds a white border. ``story``: for a story, which may be as
    tall as 9:16. Raises ValidationError with code "too_large", "invalid_image" or "aspect_ratio".
    """
    if fit not in dict(FIT_CHOICES):
        raise ValueError(f"Unknown fit {fit!r}")
    size = getattr(file, "size", None)
    if isinstance(size, int) and size > MAX_UPLOAD_BYTES:
        raise _too_large(size)
    if hasattr(file, "seek"):
        file.seek(0)
    data = file.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise _too_large(size if isinstance(size, int) and size > MAX_UPLOAD_BYTES else None)
    return _prepare(_open(data), fit=fit, story=story)


def prepare_generated(data: bytes) -> PreparedImage:
    """Make an image from an image provider (PNG, JPEG or WebP bytes) an Instagram-ready JPEG.

    An image outside Instagram's ratios is centre-cropped. Raises ValidationError with code
    "invalid_image" when ``data`` is not an image this module accepts.
    """
    return _prepare(_open(data), fit="crop")


def draw_placeholder(*, title: str, subtitle: str, size: tuple[int, int] = (1080, 1080)) -> PreparedImage:
    """A plain image with ``title`` large and ``subtitle`` wrapped below, for when there is no AI image."""
    width, height = size
    top, bottom = Image.new("RGB", size, (37, 99, 235)), Image.new("RGB", size, (124, 58, 237))
    image = Image.composite(bottom, top, Image.linear_gradient("L").resize(size))
    draw = ImageDraw.Draw(image)
    margin = width // 12
    text_width = width - 2 * margin
    title_font = ImageFont.load_default(size=max(12, width // 13))
    subtitle_font = ImageFont.load_default(size=max(10, width // 30))
    blocks = [
        (lines, font, _line_height(font))
        for lines, font in (
            (_wrap(draw, title.strip() or "Untitled", title_font, text_width, max_lines=3), title_font),
            (_wrap(draw, subtitle.strip(), subtitle_font, text_width, max_lines=8), subtitle_font),
        )
        if lines
    ]
    gap = width // 27  # between the title and the subtitle
    total = sum(step * len(lines) for lines, _, step in blocks) + gap * (len(blocks) - 1)
    y = max(margin, (height - total) // 2)
    for lines, font, step in blocks:
        for line in lines:
            draw.text((margin, y), line, font=font, fill=WHITE)
            y += step
        y += gap
    return _encode(image)


# The campaign list shows a 48px square: twice that for high-density screens.
THUMBNAIL_PX = 96


def thumbnail(content: bytes) -> bytes:
    """A small square JPEG of a prepared image, cropped to its centre, for lists: a page of
    twenty-five campaigns would otherwise load twenty-five full-size JPEGs."""
    with Image.open(io.BytesIO(content)) as image:
        square = ImageOps.fit(image.convert("RGB"), (THUMBNAIL_PX, THUMBNAIL_PX), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    square.save(buffer, format="JPEG", quality=80, optimize=True)
    return buffer.getvalue()


def _open(data: bytes) -> Image.Image:
    """The decoded, upright image in ``data``, refused unless it is a sound JPEG, PNG or WebP of sane size."""
    with warnings.catch_warnings():
        # Pillow only warns between MAX_IMAGE_PIXELS and twice that; refuse those too.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as probe:
                # Format and size come from the header; check them before decoding anything.
                if probe.format not in ACCEPTED_FORMATS:
                    raise ValidationError(NOT_AN_IMAGE, code="invalid_image")
                _check_pixels(*probe.size)
                probe.verify()
            image = Image.open(io.BytesIO(data))
            if image.format not in ACCEPTED_FORMATS:
                raise ValidationError(NOT_AN_IMAGE, code="invalid_image")
            image.load()
            ImageOps.exif_transpose(image, in_place=True)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise _too_many_pixels() from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            # verify() and load() raise a variety of errors for a damaged or truncated file.
            raise ValidationError(NOT_AN_IMAGE, code="invalid_image") from exc
    return image


def _check_pixels(width: int, height: int) -> None:
    if width * height > MAX_PIXELS:
        raise _too_many_pixels(width, height)


def _prepare(image: Image.Image, *, fit: str, story: bool = False) -> PreparedImage:
    image = _to_rgb(image)
    ratio, (low, high) = Fraction(image.width, image.height), ratio_bounds(story=story)
    if not low <= ratio <= high:
        if fit == "crop":
            image = _crop(image, low, high)
        elif fit == "pad":
            image = _pad(image, low, high)
        else:
            raise ValidationError(
                f"This image is {image.width}×{image.height}, a ratio of {float(ratio):.2f}:1. {accepted_ratios(story=story)} "
                'Choose "Crop to fit" or "Pad with a border", or upload another image.',
                code="aspect_ratio",
            )
    if image.width > INSTAGRAM_MAX_WIDTH:
        image = _resize(image, INSTAGRAM_MAX_WIDTH, (low, high))
    return _encode(image, (low, high))


def accepted_ratios(*, story: bool = False) -> str:
    """The ratios Instagram accepts, as a sentence for a refusal."""
    portrait = f"9:16 ({STORY_MIN_RATIO:.2f}:1, a full-screen story)" if story else f"4:5 ({MIN_RATIO:.2f}:1, portrait)"
    return f"Instagram accepts {'stories' if story else 'feed images'} from {portrait} to {MAX_RATIO:.2f}:1 (landscape)."


def fits(*, width: int, height: int, story: bool = False) -> bool:
    """Whether a prepared image of this size is within the format's ratios."""
    low, high = ratio_bounds(story=story)
    return height > 0 and low <= Fraction(width, height) <= high


def _to_rgb(image: Image.Image) -> Image.Image:
    """RGB with transparency flattened on white; only an RGB ICC profile survives of the metadata."""
    # A CMYK or grey profile would describe the converted pixels wrongly.
    icc_profile = image.info.get("icc_profile") if image.mode in ("RGB", "RGBA") else None
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, WHITE)
        flat.paste(rgba, mask=rgba.getchannel("A"))
        image = flat
    else:
        image = image.convert("RGB")
    # A fresh info dict drops EXIF (GPS position, camera serial...) and XMP; the ICC profile
    # stays so colours do not shift, and says nothing about the person.
    image.info = {"icc_profile": icc_profile} if icc_profile else {}
    return image


def ratio_bounds(*, story: bool = False) -> tuple[Fraction, Fraction]:
    """Instagram's ratios as exact fractions (4/5 or 9/16, and 191/100), so rounding cannot step outside them."""
    low = STORY_MIN_RATIO if story else MIN_RATIO
    return Fraction(low).limit_denominator(1000), Fraction(MAX_RATIO).limit_denominator(1000)


def _crop(image: Image.Image, low: Fraction, high: Fraction) -> Image.Image:
    """Centre-crop to the nearest ratio Instagram accepts."""
    width, height = image.size
    if Fraction(width, height) < low:  # too tall
        new_width, new_height = width, math.floor(width / low)
    else:  # too wide
        new_width, new_height = math.floor(height * high), height
    left, top = (width - new_width) // 2, (height - new_height) // 2
    return image.crop((left, top, left + new_width, top + new_height))


def _pad(image: Image.Image, low: Fraction, high: Fraction) -> Image.Image:
    """Centre the image on a white canvas of the nearest ratio Instagram accepts."""
    width, height = image.size
    if Fraction(width, height) < low:  # too tall
        new_width, new_height = math.ceil(height * low), height
    else:  # too wide
        new_width, new_height = width, math.ceil(width / high)
    canvas = Image.new("RGB", (new_width, new_height), WHITE)
    canvas.paste(image, ((new_width - width) // 2, (new_height - height) // 2))
    canvas.info = image.info
    return canvas


def _resize(image: Image.Image, width: int, bounds: tuple[Fraction, Fraction]) -> Image.Image:
    """Scale to ``width``, keeping the ratio inside Instagram's ``bounds`` despite rounding."""
    low, high = bounds
    height = round(Fraction(image.height * width, image.width))
    height = max(1, min(max(height, math.ceil(width / high)), math.floor(width / low)))
    resized = image.resize((width, height), Image.Resampling.LANCZOS)
    resized.info = image.info
    return resized


def _encode(image: Image.Image, bounds: tuple[Fraction, Fraction] | None = None) -> PreparedImage:
    """A JPEG of ``image`` within INSTAGRAM_MAX_BYTES: lower quality first, then smaller (within
    ``bounds``, a feed image's ratios unless given)."""
    while True:
        for quality in JPEG_QUALITIES:
            buffer = io.BytesIO()
            image.save(
                buffer,
                format="JPEG",
                quality=quality,
                optimize=True,
                progressive=True,
                icc_profile=image.info.get("icc_profile"),
            )
            if buffer.tell() <= INSTAGRAM_MAX_BYTES:
                return PreparedImage(content=buffer.getvalue(), width=image.width, height=image.height)
        if image.width <= 320:
            raise ValidationError("This image cannot be made small enough for Instagram.", code="too_large")
        image = _resize(image, image.width * 3 // 4, bounds or ratio_bounds())


def _wrap(
    draw: ImageDraw.ImageDraw, text: str, font: ImageFont.FreeTypeFont, width: int, *, max_lines: int
) -> list[str]:
    """``text`` broken into lines no wider than ``width``, the last ending in "…" if it had to be cut."""
    lines: list[str] = []
    words = text.split()
    while words and len(lines) < max_lines:
        line = words.pop(0)
        if draw.textlength(line, font=font) > width:  # a word wider than the line: break it
            cut = _longest_fit(draw, line, font, width)
            words.insert(0, line[cut:])
            line = line[:cut]
        while words and draw.textlength(f"{line} {words[0]}", font=font) <= width:
            line = f"{line} {words.pop(0)}"
        lines.append(line)
    if words and lines:
        last = lines[-1]
        while " " in last and draw.textlength(f"{last}…", font=font) > width:
            last = last.rsplit(" ", 1)[0]
        if draw.textlength(f"{last}…", font=font) > width:
            last = last[: _longest_fit(draw, f"{last}…", font, width) - 1]
        lines[-1] = f"{last.rstrip(' ,.;:-')}…"
    return lines


def _longest_fit(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.FreeTypeFont, width: int) -> int:
    """The length of the longest start of ``text`` no wider than ``width``, at least 1."""
    low, high = 1, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if draw.textlength(text[:middle], font=font) <= width:
            low = middle
        else:
            high = middle - 1
    return low


def _line_height(font: ImageFont.FreeTypeFont) -> int:
    ascent, descent = font.getmetrics()
    return round((ascent + descent) * 1.2)


def _too_large(size: int | None) -> ValidationError:
    limit = _megabytes(MAX_UPLOAD_BYTES)
    if size is None:
        return ValidationError(f"This file is over the limit of {limit} MB.", code="too_large")
    return ValidationError(f"This file is {_megabytes(size)} MB; the limit is {limit} MB.", code="too_large")


def _too_many_pixels(width: int | None = None, height: int | None = None) -> ValidationError:
    limit = f"{MAX_PIXELS / 1_000_000:g} megapixels"
    if width is None or height is None:
        return ValidationError(f"This image has too many pixels; the limit is {limit}.", code="too_large")
    return ValidationError(
        f"This image is {width}×{height} pixels ({width * height / 1_000_000:.0f} megapixels); the limit is {limit}.",
        code="too_large",
    )


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f}".removesuffix(".0")
