"""reverse(), remembered: the links the layout and the Jinja2 fragments put on every page.

reverse() took 18 µs a link, a fifth of it reading the thread's URLconf and script prefix. What it
reads besides its arguments is the URLconf and the script prefix (no URL here depends on the
language), so a link is remembered under those two: a changed URLconf (override_settings,
clear_url_caches) brings a new resolver, so new links.
"""

from collections.abc import Callable
from functools import lru_cache

from django.urls import URLResolver, get_resolver, get_script_prefix, get_urlconf, reverse


def current_reverser() -> Callable[..., str]:
    """``url(name, *args)`` for this thread's URLconf and script prefix, read once."""
    resolver, prefix = get_resolver(get_urlconf()), get_script_prefix()

    def url(name: str, *args) -> str:
        return reversed_link(resolver, prefix, name, args)

    return url


@lru_cache(maxsize=4096)
def reversed_link(resolver: URLResolver, prefix: str, name: str, args: tuple = ()) -> str:
    # reverse() reads the script prefix itself: the same as the key's, in this thread.
    return reverse(name, urlconf=resolver.urlconf_name, args=args)
