"""@mentions in campaign comments: ``{% mention_directory campaign as handles %}`` reads who can be
mentioned, ``{{ comment.body|mentions:handles }}`` shows a comment with its mentions highlighted
and ``{{ handles|mention_list }}`` lists one handle per member for the comment form."""

from collections.abc import Mapping

from django import template
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

from campaigns import services
from campaigns.models import Campaign

register = template.Library()


@register.simple_tag
def mention_directory(campaign: Campaign) -> dict[str, int]:
    """The handles that mention a member of the campaign's workspace, to their user ids (one query)."""
    return services.mention_directory(workspace_id=campaign.workspace_id)


@register.filter
def mentions(body: str, handles: Mapping[str, int]) -> SafeString:
    """``body`` HTML-escaped, each mention of a member in ``<span class="mention">``.

    Escaped whatever the template's autoescape says: the body is user input, and the result is
    marked safe. A handle no member owns stays plain text, so the page tells nothing of it.
    """
    parts: list[str] = []
    end = 0
    for match in services.MENTION_RE.finditer(body):
        if match.group(1).lower() in handles:
            parts.append(escape(body[end : match.start()]))
            parts.append(format_html('<span class="mention">{}</span>', match.group(0)))
            end = match.end()
    parts.append(escape(body[end:]))
    return mark_safe("".join(parts))


@register.filter
def mention_list(handles: Mapping[str, int]) -> list[str]:
    """One handle per member, its shortest (the whole address only where the short one is shared), sorted."""
    shortest: dict[int, str] = {}
    for handle, user_id in handles.items():
        if user_id not in shortest or len(handle) < len(shortest[user_id]):
            shortest[user_id] = handle
    return sorted(shortest.values())
