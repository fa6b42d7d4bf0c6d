from django.http import HttpRequest

from .selectors import memberships_for_user


def workspace(request: HttpRequest) -> dict:
    """The current workspace and the ones the switcher offers."""
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    return {
        "workspace": getattr(request, "workspace", None),
        "membership": getattr(request, "membership", None),
        # The pages under the "Settings" tab of the navigation.
        "settings_pages": ("workspace_settings", "api_tokens", "account_settings", "workspace_delete"),
        "switchable_memberships": getattr(request, "memberships", None) or memberships_for_user(user=request.user),
    }


def dev_mailbox(request: HttpRequest) -> dict:
    """Whether pages link to the development mailbox (DEBUG, no EMAIL_URL)."""
    from .mailbox import is_enabled

    return {"dev_mailbox": is_enabled()}
