import re
from types import ModuleType

from django.test import Client
from django.urls import include, path, reverse

from marketing.context_processors import LAYOUT_URL_NAMES, layout
from tests.factories import MembershipFactory


def test_it_gives_the_layout_the_links_reverse_gives(rf):
    links = layout(rf.get("/"))["layout_urls"]
    assert links == {name.replace(":", "_"): reverse(name) for name in LAYOUT_URL_NAMES}


def test_it_follows_a_changed_urlconf(rf, settings):
    assert layout(rf.get("/"))["layout_urls"]["campaign_list"] == "/campaigns/"
    moved = ModuleType("moved_urls")
    moved.urlpatterns = [path("app/", include("marketing.urls"))]
    settings.ROOT_URLCONF = moved
    assert layout(rf.get("/"))["layout_urls"]["campaign_list"] == "/app/campaigns/"


def test_it_shows_every_link_of_the_layout(alice_client):
    alice_client.get("/")  # the first request stores the current workspace in the session
    html = alice_client.get("/campaigns/").content.decode()
    # alice owns her workspace and is not staff: all but the staff links, the mailbox and the
    # visitor's way in show.
    visitors = {"account_login", "account_signup", "billing_pricing"}
    hidden = {"monitoring:dashboard", "admin:index", "dev_mailbox", *visitors}
    links = re.findall(r'(?:href|action)="([^"]*)"', html)
    hrefs = {link.split("?")[0] for link in links}
    assert {reverse(name) for name in LAYOUT_URL_NAMES if name not in hidden} <= hrefs
    assert "" not in links
    public = set(re.findall(r'href="([^"?]+)"', Client().get("/pricing/").content.decode()))
    assert {reverse(name) for name in visitors} <= public


def test_it_marks_the_tab_of_the_page_and_no_other(alice_client):
    alice_client.get("/")  # the first request stores the current workspace in the session
    for page, tab in [
        ("/", "Dashboard"),
        ("/campaigns/", "Campaigns"),
        ("/campaigns/new/", "Campaigns"),
        ("/triggers/", "Triggers"),
        ("/calendar/", "Calendar"),
        ("/workspace/settings/", "Settings"),
        ("/workspace/api-tokens/", "Settings"),
    ]:
        nav = re.search(r'<nav class="topnav".*?</nav>', alice_client.get(page).content.decode(), re.S).group()
        assert re.findall(r'aria-current="page">([^<]+)</a>', nav) == [tab], page


def test_it_lets_the_top_bar_forms_post_with_the_pages_one_csrf_token(alice, alice_workspace):
    other = MembershipFactory(user=alice, role="member").workspace
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    client.get("/")  # the first request stores the current workspace in the session
    html = client.get("/campaigns/").content.decode()
    bar = re.search(r'<header class="topbar">.*?</header>', html, re.S).group()
    tokens = set(re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', bar))
    # One masked token for the page: the switcher's forms, the sign-out form and htmx's header.
    assert tokens == set(re.findall(r'"X-CSRFToken": "([^"]+)"', html))
    assert len(tokens) == 1 and html.count(tokens.pop()) == 4  # two workspaces, sign out, the header
    switch = re.search(rf'<form method="post" action="([^"]+)">\s*<input type="hidden" name="csrfmiddlewaretoken" value="([^"]+)">\s*<input type="hidden" name="workspace" value="{other.pk}">', bar)
    response = client.post(switch.group(1), {"csrfmiddlewaretoken": switch.group(2), "workspace": other.pk})
    assert response.status_code == 302
    assert client.get("/").context["workspace"] == other
    refused = client.post(switch.group(1), {"workspace": alice_workspace.pk})
    assert refused.status_code == 403
