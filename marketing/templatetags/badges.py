"""Status badges: one colour per status word, for every page and every app.

``{% status_badge value label %}`` in Django templates; ``status_badge_html`` is the Jinja2 filter.
"""

from functools import lru_cache

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

register = template.Library()

# A status word's tone; a word not listed gets the plain grey badge.
TONES: dict[str, str] = {
    # Done and well.
    "completed": "success",
    "succeeded": "success",
    "published": "success",
    "connected": "success",
    "done": "success",
    "success": "success",
    # Waiting its turn.
    "scheduled": "info",
    "queued": "info",
    "pending": "info",
    "planned": "info",
    # Under way.
    "active": "primary",
    "running": "primary",
    "waiting": "primary",
    "started": "primary",
    "read": "primary",
    # Needs a look.
    "paused": "warning",
    "retrying": "warning",
    "needs_reconnect": "warning",
    "fell_back": "warning",
    # Went wrong.
    "failed": "danger",
    "error": "danger",
    "crashed": "danger",
    "refused": "danger",
    "disconnected": "danger",
    # Out of play.
    "archived": "muted",
    "cancelled": "muted",
    "skipped": "muted",
    "declined": "muted",
}


# A page shows the same few badges over and over (two a row on the campaign list): each is built
# once. The statuses and their labels are a short list.
@lru_cache(maxsize=512)
def status_badge_html(value: str, label: str | None = None) -> SafeString:
    """The badge for ``value``, reading ``label`` (the value itself when not given)."""
    tone = TONES.get(value)
    return format_html('<span class="{}">{}</span>', f"badge badge-{tone}" if tone else "badge", value if label is None else label)


@register.simple_tag
def status_badge(value: str, label: str | None = None) -> SafeString:
    return status_badge_html(str(value), None if label is None else str(label))
