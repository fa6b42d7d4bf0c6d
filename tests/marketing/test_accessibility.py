"""What axe-core found on the signed-in pages, held: names that say what is shown, headers and
form fields with names, and text that reads against its background (WCAG AA)."""

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

APP_CSS = Path(__file__).resolve().parents[2] / "static" / "css" / "app.css"


UNLABELLED_INPUTS = {"hidden", "submit", "button", "reset", "image"}


class _Structure(HTMLParser):
    """Empty table headers, summaries whose aria-label leaves out the text they show, and form
    fields no label names."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, dict, list[str]]] = []
        self.empty_headers = 0
        self.mislabelled: list[str] = []
        self.labels_for: set[str] = set()
        self.inside_label = 0
        self.fields: list[tuple[str, dict, bool]] = []

    @property
    def unnamed_fields(self) -> list[str]:
        return [
            attrs.get("name", tag)
            for tag, attrs, wrapped in self.fields
            if not wrapped and attrs.get("id") not in self.labels_for and not attrs.keys() & {"aria-label", "aria-labelledby"}
        ]

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "label":
            self.inside_label += 1
            if attrs.get("for"):
                self.labels_for.add(attrs["for"])
        if tag in ("select", "textarea") or (tag == "input" and attrs.get("type", "text") not in UNLABELLED_INPUTS):
            self.fields.append((tag, attrs, self.inside_label > 0))
        if tag in ("th", "summary"):
            self.stack.append((tag, attrs, []))

    def handle_data(self, data):
        for _, _, texts in self.stack:
            texts.append(data)

    def handle_endtag(self, tag):
        if tag == "label":
            self.inside_label -= 1
        if not self.stack or self.stack[-1][0] != tag:
            return
        _, attrs, texts = self.stack.pop()
        text = " ".join("".join(texts).split())
        if tag == "th" and not text and "aria-label" not in attrs:
            self.empty_headers += 1
        label = attrs.get("aria-label")
        if tag == "summary" and label and text and text.lower() not in label.lower():
            self.mislabelled.append(f"{label!r} shows {text!r}")


def test_it_names_what_each_page_shows(client, staff_alice, pages):
    client.force_login(staff_alice)
    for path in pages:
        structure = _Structure()
        structure.feed(client.get(path).content.decode())
        assert structure.empty_headers == 0, f"{path}: a table header without a name"
        assert structure.mislabelled == [], path
        assert structure.unnamed_fields == [], f"{path}: form fields without a label"


def _luminance(hex_colour: str) -> float:
    red, green, blue = (int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5))

    def linear(channel: float) -> float:
        return channel / 12.92 if channel <= 0.03928 else ((channel + 0.055) / 1.055) ** 2.4

    return 0.2126 * linear(red) + 0.7152 * linear(green) + 0.0722 * linear(blue)


def _contrast(first: str, second: str) -> float:
    lighter, darker = sorted((_luminance(first), _luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def _colours() -> dict[str, str]:
    return dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-f]{6});", APP_CSS.read_text()))


@pytest.mark.parametrize("name", ["danger", "success", "warning", "primary"])
def test_it_keeps_badge_and_alert_text_readable_on_its_soft_background(name):
    colours = _colours()
    assert _contrast(colours[name], colours[f"{name}-soft"]) >= 4.5


@pytest.mark.parametrize("background", ["bg", "surface", "primary-soft", "danger-soft", "success-soft", "warning-soft"])
def test_it_keeps_muted_text_readable_on_every_background(background):
    colours = _colours()
    assert _contrast(colours["muted"], colours[background]) >= 4.5


def test_it_uses_no_pictograph_a_plain_font_lacks():
    # Emoji (U+1F000 on) showed as an empty box in Chromium with Debian's fonts and no emoji
    # font; the symbols used instead (U+2190-U+27BF) come with common text fonts, DejaVu included.
    templates = Path(__file__).resolve().parents[2] / "templates"
    found = [
        f"{path.relative_to(templates)}: {char!r}"
        for path in templates.rglob("*.html")
        for char in set(path.read_text())
        if ord(char) >= 0x1F000
    ]
    assert found == []
