"""The campaign list's rows, built with format_html.

The list re-renders on every filter keystroke. On a 2-core machine the template engine spends
about 150 µs a row (the ``date`` filter alone 30 µs a call); building the same markup here costs
a tenth of that, which keeps the page within 3x of a bare signed-in view (``make bench``).
"""

from django import template
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

register = template.Library()

ROW = (
    '<tr><td class="thumb-cell">{}</td>'
    '<td><a class="strong" href="{}">{}</a><div class="muted small truncate">{}</div></td>'
    '<td><span class="badge status-{}">{}</span></td>'
    '<td class="small">{}</td>'
    '<td class="muted small">{}</td></tr>'
)
THUMB = '<img class="thumb" src="{}images/{}/" alt="" loading="lazy" width="48" height="48">'
NO_THUMB = SafeString('<span class="thumb thumb-empty" aria-hidden="true">✦</span>')
LAST_RUN = '<span class="badge run-{}">{}</span> <span class="muted">{}</span>'
NEVER_RUN = SafeString('<span class="muted">Never run</span>')


def _when(moment, fmt: str) -> str:
    # The viewer's zone is the active one (WorkspaceMiddleware).
    return timezone.localtime(moment).strftime(fmt)


@register.simple_tag
def campaign_rows(campaigns) -> SafeString:
    if not campaigns:
        return SafeString("")
    # One reverse for the page; every campaign URL shares its shape.
    first = reverse("campaign_detail", args=[campaigns[0].pk])
    prefix = first[: first.rindex(str(campaigns[0].pk))]

    def cells(campaign):
        url = f"{prefix}{campaign.pk}/"
        return (
            format_html(THUMB, url, campaign.first_image_id) if campaign.first_image_id else NO_THUMB,
            url,
            campaign.name,
            (campaign.caption or campaign.brief)[:120],
            campaign.status,
            campaign.get_status_display(),
            format_html(LAST_RUN, campaign.last_run_status, campaign.last_run_status, _when(campaign.last_run_at, "%-d %b, %H:%M"))
            if campaign.last_run_status
            else NEVER_RUN,
            _when(campaign.updated_at, "%-d %b %Y, %H:%M"),
        )

    return format_html_join("", ROW, (cells(campaign) for campaign in campaigns))
