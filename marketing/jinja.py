"""The Jinja2 environment, for the few fragments rendered with Jinja2 (``templates/jinja2/``).

The campaign list's content is one (``campaigns/list_content.html`` and its results, put in the
layout by ``{% jinja %}``): the list re-renders on every filter keystroke, and Django's engine took
2.3 ms for its 25 rows where Jinja2 takes about a quarter of that. The helpers here are the ones
the Django templates use, under the same names.
"""

from datetime import datetime
from functools import lru_cache

from django.http import HttpRequest
from django.urls import URLResolver, get_resolver, get_script_prefix, get_urlconf, reverse
from django.utils import timezone
from jinja2 import Environment

from marketing.templatetags.badges import status_badge_html
from marketing.timefmt import when


def urls(request: HttpRequest) -> dict:
    """The context processor of the Jinja2 templates: ``{{ url("campaign_detail", campaign.pk) }}``,
    as {% url %} in Django's templates (the templates here are rendered with the request).

    reverse() took 18 µs a link, 40 links on the campaign list's page: more than half of its rows'
    time, a fifth of it reading the URLconf and script prefix of the thread. Those are read once
    per page here, and links are remembered per URLconf and script prefix, what reverse() reads
    besides its arguments (no URL here depends on the language): a page shown again (the list
    after a filter keystroke, a reload, the way back from a campaign) asks for the same links.
    """
    resolver, prefix = get_resolver(get_urlconf()), get_script_prefix()

    def url(name: str, *args) -> str:
        return _reversed(resolver, prefix, name, args)

    return {"url": url}


@lru_cache(maxsize=4096)
def _reversed(resolver: URLResolver, prefix: str, name: str, args: tuple) -> str:
    # reverse() reads the script prefix itself: the same as the key's, in this thread.
    return reverse(name, urlconf=resolver.urlconf_name, args=args)


def local(moment: datetime, fmt: str) -> str:
    """{{ campaign.updated_at|local("%-d %b %Y, %H:%M") }}: the moment in the viewer's zone, formatted."""
    return timezone.localtime(moment).strftime(fmt)


def environment(**options) -> Environment:
    env = Environment(**options)
    # Filters rather than functions: Jinja2 calls a filter directly, a function through the context.
    env.filters.update(when=when, local=local, status_badge=status_badge_html)
    return env
