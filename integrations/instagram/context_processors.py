from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from .selectors import accounts_needing_reconnect


def instagram_banner(request: HttpRequest) -> dict:
    """The workspace's accounts that need reconnecting, for the banner on every page.

    Lazy: the query runs only when a template shows the banner.
    """
    workspace = getattr(request, "workspace", None)
    if workspace is None:
        return {}
    return {"instagram_reconnect_accounts": SimpleLazyObject(lambda: list(accounts_needing_reconnect(workspace=workspace)))}
