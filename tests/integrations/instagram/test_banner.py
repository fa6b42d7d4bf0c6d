"""The reconnect banner shown on every page while an account needs reconnecting."""

from django.template.loader import render_to_string

from integrations.instagram.context_processors import instagram_banner
from integrations.instagram.models import InstagramAccount


def render_banner(rf, workspace) -> str:
    request = rf.get("/")
    request.workspace = workspace
    return render_to_string("instagram/_reconnect_banner.html", instagram_banner(request))


def test_it_names_the_accounts_that_need_reconnecting(rf, account, alice_workspace):
    InstagramAccount.objects.filter(pk=account.pk).update(status="needs_reconnect")

    html = render_banner(rf, alice_workspace)

    assert "@aliceco" in html
    assert 'href="/instagram/"' in html


def test_it_shows_nothing_while_every_account_is_connected(rf, account, alice_workspace):
    assert render_banner(rf, alice_workspace).strip() == ""


def test_it_gives_nothing_without_a_workspace(rf):
    request = rf.get("/")
    request.workspace = None

    assert instagram_banner(request) == {}


def test_it_runs_no_query_unless_the_banner_is_shown(rf, alice_workspace, django_assert_num_queries):
    request = rf.get("/")
    request.workspace = alice_workspace

    with django_assert_num_queries(0):
        instagram_banner(request)
