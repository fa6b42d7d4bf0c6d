"""The Jinja2 environment, for the few fragments rendered with Jinja2 (``templates/jinja2/``).

The campaign list's content is one (``campaigns/list_content.html`` and its results, put in the
layout by ``{% jinja %}``): the list re-renders on every filter keystroke, and Django's engine took
2.3 ms for its 25 rows where Jinja2 takes about a quarter of that. The layout's top bar is the
other (``_topbar.html``, in base.html): every page shows it, and with it in Jinja2 base.html takes
0.33 ms instead of 0.41. The helpers here are the ones
the Django templates use, under the same names.
"""

from datetime import datetime

from django.http import HttpRequest
from django.utils import timezone
from jinja2 import Environment

from marketing.links import current_reverser
from marketing.templatetags.badges import status_badge_html
from marketing.timefmt import when


def urls(request: HttpRequest) -> dict:
    """The context processor of the Jinja2 templates: ``{{ url("campaign_detail", campaign.pk) }}``,
    as {% url %} in Django's templates (the templates here are rendered with the request).

    The campaign list's page has 40 links, whose reverse() was more than half of its rows' time;
    they are remembered (marketing/links.py): a page shown again (the list after a filter
    keystroke, a reload, the way back from a campaign) asks for the same links.
    """
    return {"url": current_reverser()}


def local(moment: datetime, fmt: str) -> str:
    """{{ campaign.updated_at|local("%-d %b %Y, %H:%M") }}: the moment in the viewer's zone, formatted."""
    return timezone.localtime(moment).strftime(fmt)


def environment(**options) -> Environment:
    env = Environment(**options)
    # Filters rather than functions: Jinja2 calls a filter directly, a function through the context.
    env.filters.update(when=when, local=local, status_badge=status_badge_html)
    return env
