import io
import random

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from campaigns import images
from campaigns.images import draw_placeholder, prepare_generated, prepare_upload


def encode(image: Image.Image, format: str, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format, **params)
    return buffer.getvalue()


def upload(data: bytes, name: str = "photo.jpg", content_type: str = "image/jpeg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)


def photo(size: tuple[int, int] = (1080, 1080), format: str = "JPEG", **params) -> SimpleUploadedFile:
    return upload(encode(Image.new("RGB", size, (200, 40, 40)), format, **params), f"photo.{format.lower()}")


def noise(size: tuple[int, int]) -> Image.Image:
    """An image JPEG cannot compress much."""
    return Image.frombytes("RGB", size, random.Random(0).randbytes(size[0] * size[1] * 3))


def opened(prepared: images.PreparedImage) -> Image.Image:
    return Image.open(io.BytesIO(prepared.content))


def test_it_refuses_a_text_file_named_jpg():
    with pytest.raises(ValidationError) as caught:
        prepare_upload(upload(b"Dear customer,\nthis is not a photo.\n"))

    assert caught.value.code == "invalid_image"
    assert caught.value.message == "This file is not a JPEG, PNG or WebP image."


def test_it_refuses_a_gif():
    with pytest.raises(ValidationError) as caught:
        prepare_upload(photo(format="GIF"))

    assert caught.value.code == "invalid_image"


def test_it_refuses_a_truncated_png():
    data = encode(noise((200, 200)), "PNG")

    with pytest.raises(ValidationError) as caught:
        prepare_upload(upload(data[: len(data) // 2], "photo.png", "image/png"))

    assert caught.value.code == "invalid_image"


def test_it_refuses_a_file_over_the_byte_limit(monkeypatch):
    monkeypatch.setattr(images, "MAX_UPLOAD_BYTES", 10_000)
    data = encode(noise((200, 200)), "PNG")
    assert len(data) > 10_000

    with pytest.raises(ValidationError) as caught:
        prepare_upload(upload(data, "photo.png", "image/png"))

    assert caught.value.code == "too_large"


def test_it_refuses_a_file_declared_too_big_before_reading_it():
    class Big(io.BytesIO):
        size = 25 * 1024 * 1024

    with pytest.raises(ValidationError) as caught:
        prepare_upload(Big(b"never read"))

    assert caught.value.message == "This file is 25 MB; the limit is 20 MB."


def test_it_refuses_an_image_with_too_many_pixels():
    # 48 megapixels of one colour compress to a few kilobytes.
    data = encode(Image.new("1", (8000, 6000)), "PNG")

    with pytest.raises(ValidationError) as caught:
        prepare_upload(upload(data, "huge.png", "image/png"))

    assert caught.value.code == "too_large"
    assert "8000×6000" in caught.value.message
    assert "40 megapixels" in caught.value.message


def test_it_refuses_what_pillow_calls_a_decompression_bomb(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)

    with pytest.raises(ValidationError) as caught:
        prepare_upload(photo((100, 100)))

    assert caught.value.code == "too_large"


def test_it_turns_a_transparent_png_into_an_rgb_jpeg_on_white():
    data = encode(Image.new("RGBA", (400, 400), (255, 0, 0, 0)), "PNG")

    prepared = prepare_upload(upload(data, "logo.png", "image/png"))

    assert prepared.content[:2] == b"\xff\xd8"
    image = opened(prepared)
    assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (400, 400))
    assert all(channel > 245 for channel in image.getpixel((200, 200)))


def test_it_accepts_a_webp():
    prepared = prepare_upload(photo((1000, 800), "WEBP"))

    assert opened(prepared).format == "JPEG"
    assert (prepared.width, prepared.height) == (1000, 800)


def test_it_strips_exif_metadata():
    exif = Image.Exif()
    exif[0x010F] = "Camera maker"  # Make
    exif[0x8825] = {2: (52.0, 31.0, 12.0)}  # GPSInfo: latitude

    prepared = prepare_upload(photo(exif=exif))

    assert not opened(prepared).getexif()
    assert b"Camera maker" not in prepared.content


def test_it_applies_the_exif_orientation():
    image = Image.new("RGB", (120, 100), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, 60, 100))  # left half red
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to display
    data = encode(image, "JPEG", exif=exif, quality=95)

    prepared = prepare_upload(upload(data))

    upright = opened(prepared)
    assert upright.size == (100, 120)
    red, green, blue = upright.getpixel((50, 10))
    assert red > 200 and blue < 60  # the left half is now on top


def test_it_refuses_a_9_16_image_without_a_fit():
    with pytest.raises(ValidationError) as caught:
        prepare_upload(photo((1080, 1920)))

    assert caught.value.code == "aspect_ratio"
    assert "0.56:1" in caught.value.message
    assert "Crop to fit" in caught.value.message


def test_it_crops_a_9_16_image_to_4_5():
    prepared = prepare_upload(photo((1080, 1920)), fit="crop")

    assert (prepared.width, prepared.height) == (1080, 1350)


def test_it_pads_a_9_16_image_with_white_to_4_5():
    prepared = prepare_upload(photo((1080, 1920)), fit="pad")

    assert prepared.width / prepared.height == pytest.approx(4 / 5, abs=0.001)
    assert prepared.width <= 1440
    image = opened(prepared)
    assert all(channel > 245 for channel in image.getpixel((5, image.height // 2)))  # the border
    assert image.getpixel((image.width // 2, image.height // 2))[0] > 150  # the photo


def test_it_crops_a_panorama_within_instagrams_widest_ratio():
    prepared = prepare_upload(photo((3000, 1000)), fit="crop")

    assert images.MIN_RATIO <= prepared.width / prepared.height <= images.MAX_RATIO
    assert prepared.width == 1440


def test_it_keeps_an_accepted_ratio_without_a_fit():
    prepared = prepare_upload(photo((1080, 1350)))

    assert (prepared.width, prepared.height) == (1080, 1350)


def test_it_scales_a_wide_image_down_to_1440_pixels():
    prepared = prepare_upload(photo((3000, 2000)))

    assert (prepared.width, prepared.height) == (1440, 960)
    assert opened(prepared).size == (1440, 960)


def test_it_shrinks_the_jpeg_under_the_byte_limit(monkeypatch):
    monkeypatch.setattr(images, "INSTAGRAM_MAX_BYTES", 150_000)
    data = encode(noise((1200, 1000)), "PNG")

    prepared = prepare_upload(upload(data, "noise.png", "image/png"))

    assert len(prepared.content) <= 150_000
    assert opened(prepared).size == (prepared.width, prepared.height)
    assert images.MIN_RATIO <= prepared.width / prepared.height <= images.MAX_RATIO


def test_it_crops_a_generated_portrait_to_4_5():
    data = encode(Image.new("RGB", (1024, 1536), (20, 120, 60)), "PNG")

    prepared = prepare_generated(data)

    assert (prepared.width, prepared.height) == (1024, 1280)
    assert opened(prepared).format == "JPEG"


def test_it_refuses_generated_data_that_is_not_an_image():
    with pytest.raises(ValidationError) as caught:
        prepare_generated(b"<html>Bad gateway</html>")

    assert caught.value.code == "invalid_image"


def test_it_draws_a_square_placeholder_jpeg():
    prepared = draw_placeholder(title="Spring sale", subtitle="Twenty percent off every blue bicycle.")

    image = opened(prepared)
    assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (1080, 1080))
    assert (prepared.width, prepared.height) == (1080, 1080)


def test_it_draws_a_placeholder_of_the_given_size():
    prepared = draw_placeholder(title="Spring sale", subtitle="", size=(1080, 1350))

    assert opened(prepared).size == (1080, 1350)


def test_it_draws_a_placeholder_for_text_too_long_to_fit():
    prepared = draw_placeholder(title="Spring" * 80, subtitle="Every blue bicycle " * 300)

    assert opened(prepared).size == (1080, 1080)
