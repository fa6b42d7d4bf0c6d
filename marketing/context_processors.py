from functools import lru_cache

from django.http import HttpRequest
from django.urls import ResolverMatch, URLResolver, get_resolver, get_script_prefix, get_urlconf

from .links import reversed_link
from .selectors import memberships_for_user

# The navigation's tabs, in order: (tab, the URL name it links to, its label). Which tab a page is
# under is worked out by _nav_current.
NAV_TABS = (
    ("dashboard", "dashboard", "Dashboard"),
    ("campaigns", "campaign_list", "Campaigns"),
    ("instagram", "instagram_accounts", "Instagram"),
    ("n8n", "n8n_connection", "n8n"),
    ("sources", "cms_sources", "Sources"),
    ("triggers", "trigger_list", "Triggers"),
    ("calendar", "calendar", "Calendar"),
    ("members", "member_list", "Members"),
    ("billing", "billing", "Billing"),
    ("settings", "workspace_settings", "Settings"),
)
# The pages under the "Settings" tab of the navigation.
SETTINGS_PAGES = ("workspace_settings", "api_tokens", "account_settings", "workspace_delete")
# The links of the layout (base.html and its includes), none of which takes an argument: they are
# the same on every page, so they are reversed once rather than by a {% url %} each per page.
LAYOUT_URL_NAMES = (
    *(name for _, name, _ in NAV_TABS),
    "workspace_switch",
    "workspace_create",
    "account_settings",
    "account_email",
    "account_change_password",
    "account_logout",
    "account_login",
    "account_signup",
    "billing_pricing",
    "api_tokens",
    "feedback",
    "help",
    "dev_mailbox",
    "monitoring:workspace_dashboard",
    "monitoring:dashboard",
    "admin:index",
)


def workspace(request: HttpRequest) -> dict:
    """The current workspace and the ones the switcher offers."""
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    return {
        "workspace": getattr(request, "workspace", None),
        "membership": getattr(request, "membership", None),
        "switchable_memberships": getattr(request, "memberships", None) or memberships_for_user(user=request.user),
    }


def dev_mailbox(request: HttpRequest) -> dict:
    """Whether pages link to the development mailbox (DEBUG, no EMAIL_URL)."""
    from .mailbox import is_enabled

    return {"dev_mailbox": is_enabled()}


def layout(request: HttpRequest) -> dict:
    """The layout's links and which of its tabs the page is under.

    ``{{ layout_urls.dashboard }}``: the layout's links, as {% url 'dashboard' %} gives them.

    Twenty {% url %} tags were a quarter of the layout's cost on every page. The links are worked
    out once per URLconf and script prefix (marketing/links.py says why that is enough). A
    namespaced name's colon becomes an underscore (``layout_urls.admin_index``).

    ``nav_tabs``: the navigation's tabs (``url``, ``label``, and ``current`` when the page is
    under it), worked out here once rather than by a chain of lookups and filters for each tab.
    """
    urls = _layout_urls(get_resolver(get_urlconf()), get_script_prefix())
    current = _nav_current(request.resolver_match)
    return {
        "layout_urls": urls,
        "nav_tabs": [{"url": urls[name], "label": label, "current": current[tab]} for tab, name, label in NAV_TABS],
    }


def _nav_current(match: ResolverMatch | None) -> dict[str, bool]:
    name = (match.url_name if match else None) or ""
    return {
        "dashboard": name == "dashboard",
        "campaigns": match is not None and match.app_name == "" and "campaign" in name,
        "instagram": name.startswith("instagram_"),
        "n8n": name.startswith("n8n_"),
        "sources": name.startswith("cms_"),
        "triggers": name.startswith("trigger_"),
        "calendar": name == "calendar",
        "members": name == "member_list",
        "billing": name.startswith("billing"),
        "settings": name in SETTINGS_PAGES,
    }


@lru_cache(maxsize=8)
def _layout_urls(resolver: URLResolver, prefix: str) -> dict[str, str]:
    return {name.replace(":", "_"): reversed_link(resolver, prefix, name) for name in LAYOUT_URL_NAMES}
