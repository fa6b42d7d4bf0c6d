from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from .selectors import accounts_needing_reconnect


def instagram_banner(request: HttpRequest) -> dict:
    """The workspace's accounts that need reconnecting, for the banner on every page.

    The request's membership already says whether any destination needs it (an EXISTS in the
    middleware's query), so pages pay a query only while the banner shows.
    """
    workspace = getattr(request, "workspace", None)
    membership = getattr(request, "membership", None)
    if workspace is None or not getattr(membership, "needs_reconnect", True):
        return {}
    return {"instagram_reconnect_accounts": SimpleLazyObject(lambda: list(accounts_needing_reconnect(workspace=workspace)))}
