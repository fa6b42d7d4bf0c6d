"""Connecting accounts with Facebook Login for Business, reconnecting and disconnecting them."""

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import time_machine
from django.db import connection
from django.utils import timezone

from integrations.instagram.models import InstagramAccount
from integrations.instagram.oauth import SESSION_CANDIDATES_KEY

from .conftest import IG_USER_ID, LONG_TOKEN, SHORT_TOKEN


def start_connect(client) -> dict[str, str]:
    response = client.post("/instagram/connect/")
    assert response.status_code == 302
    location = urlsplit(response.url)
    assert (location.scheme, location.netloc, location.path) == ("https", "www.facebook.com", "/v23.0/dialog/oauth")
    return {key: values[0] for key, values in parse_qs(location.query).items()}


def test_it_sends_the_owner_to_the_facebook_dialog_with_the_scopes_and_a_state(alice_client, settings):
    query = start_connect(alice_client)

    assert query["client_id"] == "1234567890"
    assert query["redirect_uri"] == f"{settings.PUBLIC_BASE_URL}/instagram/callback/"
    assert query["response_type"] == "code"
    assert set(query["scope"].split(",")) == {
        "instagram_basic",
        "instagram_content_publish",
        "instagram_manage_insights",
        "instagram_manage_comments",
        "pages_show_list",
        "pages_read_engagement",
        "business_management",
    }
    assert query["state"]


def test_it_connects_the_accounts_the_owner_picks(alice_client, alice_workspace, graph, settings):
    state = start_connect(alice_client)["state"]

    response = alice_client.get("/instagram/callback/", {"code": "the-code", "state": state})

    assert response.url == "/instagram/connect/pick/"
    exchange = graph.called("code_exchange")[0]
    assert exchange.params["code"] == "the-code"
    assert exchange.params["redirect_uri"] == f"{settings.PUBLIC_BASE_URL}/instagram/callback/"
    assert exchange.params["client_secret"] == "app-secret-not-for-logs"
    assert graph.called("long_lived")[0].params["fb_exchange_token"] == SHORT_TOKEN
    assert graph.called("pages")[0].params["access_token"] == LONG_TOKEN

    page = alice_client.get("/instagram/connect/pick/")
    assert b"@aliceco" in page.content
    assert b"A Page without Instagram" not in page.content
    assert LONG_TOKEN.encode() not in page.content

    response = alice_client.post("/instagram/connect/pick/", {"accounts": [IG_USER_ID]})

    assert response.url == "/instagram/"
    account = InstagramAccount.objects.get()
    assert (account.workspace, account.ig_user_id, account.username, account.page_id, account.status) == (
        alice_workspace,
        IG_USER_ID,
        "aliceco",
        "1000001",
        "connected",
    )
    assert account.access_token == LONG_TOKEN
    assert account.profile_picture_url == "https://scontent.example/alice.jpg"
    expected = timezone.now() + timedelta(seconds=5183944)
    assert abs((account.token_expires_at - expected).total_seconds()) < 60
    assert SESSION_CANDIDATES_KEY not in alice_client.session


def test_it_keeps_the_waiting_token_encrypted_in_the_session(alice_client, graph):
    state = start_connect(alice_client)["state"]
    alice_client.get("/instagram/callback/", {"code": "the-code", "state": state})

    pending = alice_client.session[SESSION_CANDIDATES_KEY]
    assert LONG_TOKEN not in str(pending)


def test_it_refuses_a_forged_state(alice_client, graph):
    start_connect(alice_client)

    response = alice_client.get("/instagram/callback/", {"code": "the-code", "state": "forged:state"}, follow=True)

    assert response.status_code == 200
    assert b"did not match a connection started here" in response.content
    assert graph.calls == []
    assert not InstagramAccount.objects.exists()


def test_it_refuses_a_missing_state(alice_client, graph):
    start_connect(alice_client)

    response = alice_client.get("/instagram/callback/", {"code": "the-code"}, follow=True)

    assert b"carried no state" in response.content
    assert graph.calls == []


def test_it_refuses_a_state_signed_for_another_session(alice_client, client, alice, graph):
    state = start_connect(alice_client)["state"]
    other = client.__class__()
    other.force_login(alice)

    response = other.get("/instagram/callback/", {"code": "the-code", "state": state}, follow=True)

    assert b"did not match a connection started here" in response.content
    assert graph.calls == []


def test_it_refuses_a_state_used_twice(alice_client, graph):
    state = start_connect(alice_client)["state"]
    alice_client.get("/instagram/callback/", {"code": "the-code", "state": state})
    calls = len(graph.calls)

    response = alice_client.get("/instagram/callback/", {"code": "the-code", "state": state}, follow=True)

    assert b"did not match a connection started here" in response.content
    assert len(graph.calls) == calls


def test_it_refuses_a_stale_state(alice_client, graph):
    with time_machine.travel(timezone.now() - timedelta(minutes=20), tick=False):
        state = start_connect(alice_client)["state"]

    response = alice_client.get("/instagram/callback/", {"code": "the-code", "state": state}, follow=True)

    assert b"took too long and expired" in response.content
    assert graph.calls == []


def test_it_says_the_user_cancelled_on_facebook(alice_client, graph):
    state = start_connect(alice_client)["state"]

    response = alice_client.get(
        "/instagram/callback/", {"error": "access_denied", "error_reason": "user_denied", "state": state}, follow=True
    )

    assert b"cancelled on Facebook" in response.content
    assert graph.calls == []


def test_it_says_when_no_page_has_an_instagram_business_account(alice_client, graph):
    graph.pages = [{"id": "1000002", "name": "A Page without Instagram"}]
    state = start_connect(alice_client)["state"]

    response = alice_client.get("/instagram/callback/", {"code": "the-code", "state": state}, follow=True)

    assert b"has an Instagram Business account linked" in response.content


def test_it_shows_metas_message_when_the_code_exchange_fails(alice_client, graph):
    graph.fail("code_exchange", code=100, subcode=36009, message="This authorization code has been used.")
    state = start_connect(alice_client)["state"]

    response = alice_client.get("/instagram/callback/", {"code": "old", "state": state}, follow=True)

    assert response.status_code == 200
    assert b"This authorization code has been used." in response.content


def test_it_reconnects_an_account_that_needed_it(alice_client, account, graph):
    InstagramAccount.objects.filter(pk=account.pk).update(status="needs_reconnect", last_error="expired", access_token="")
    response = alice_client.post(f"/instagram/{account.pk}/reconnect/")
    state = parse_qs(urlsplit(response.url).query)["state"][0]
    alice_client.get("/instagram/callback/", {"code": "the-code", "state": state})

    page = alice_client.get("/instagram/connect/pick/")
    assert b"will be reconnected" in page.content
    alice_client.post("/instagram/connect/pick/", {"accounts": [IG_USER_ID]})

    account.refresh_from_db()
    assert (account.status, account.last_error, account.access_token) == ("connected", "", LONG_TOKEN)
    assert InstagramAccount.objects.count() == 1


def test_it_disconnects_an_account_and_forgets_its_token(alice_client, account):
    response = alice_client.post(f"/instagram/{account.pk}/disconnect/")

    assert response.status_code == 302
    account.refresh_from_db()
    assert (account.status, account.access_token, account.token_expires_at) == ("disconnected", "", None)


def test_it_shows_members_the_accounts_but_lets_them_neither_connect_nor_disconnect(client, bob, account):
    client.force_login(bob)

    page = client.get("/instagram/")
    assert page.status_code == 200
    assert b"@aliceco" in page.content
    assert b"Connect Instagram" not in page.content
    assert b"Disconnect" not in page.content

    assert client.post("/instagram/connect/").status_code == 403
    assert client.post(f"/instagram/{account.pk}/disconnect/").status_code == 403
    account.refresh_from_db()
    assert account.status == "connected"


def test_it_explains_what_to_configure_without_meta_app_id(alice_client, settings):
    settings.META_APP_ID = ""
    settings.META_APP_SECRET = ""

    page = alice_client.get("/instagram/")

    assert page.status_code == 200
    for text in (b"META_APP_ID", b"META_APP_SECRET", f"{settings.PUBLIC_BASE_URL}/instagram/callback/".encode()):
        assert text in page.content
    assert b"+ Connect Instagram" not in page.content
    response = alice_client.post("/instagram/connect/", follow=True)
    assert response.status_code == 200
    assert b"not configured on this server" in response.content


def test_it_sends_the_pick_page_back_to_the_list_without_a_pending_connection(alice_client):
    response = alice_client.get("/instagram/connect/pick/", follow=True)

    assert response.status_code == 200
    assert b"expired or was already used" in response.content


def test_it_refuses_an_account_that_was_not_offered_on_the_pick_page(alice_client, graph):
    state = start_connect(alice_client)["state"]
    alice_client.get("/instagram/callback/", {"code": "the-code", "state": state})

    response = alice_client.post("/instagram/connect/pick/", {"accounts": ["999"]})

    assert response.status_code == 200
    assert b"Select a valid choice" in response.content
    assert not InstagramAccount.objects.exists()


def test_it_asks_for_at_least_one_account_on_the_pick_page(alice_client, graph):
    state = start_connect(alice_client)["state"]
    alice_client.get("/instagram/callback/", {"code": "the-code", "state": state})

    response = alice_client.post("/instagram/connect/pick/", {})

    assert response.status_code == 200
    assert b"Pick at least one account." in response.content
    assert not InstagramAccount.objects.exists()


def test_it_holds_ciphertext_in_the_token_column(account):
    with connection.cursor() as cursor:
        cursor.execute("SELECT access_token FROM instagram_instagramaccount WHERE id = %s", [account.pk])
        (stored,) = cursor.fetchone()

    assert stored
    assert LONG_TOKEN not in stored
    assert stored.startswith("gAAAA")  # a Fernet token
    assert InstagramAccount.objects.get(pk=account.pk).access_token == LONG_TOKEN


def test_it_sends_a_get_of_the_connect_url_to_the_instagram_page_with_a_message(alice_client):
    response = alice_client.get("/instagram/connect/", follow=True)
    assert response.redirect_chain == [("/instagram/", 302)]
    assert "“Connect Instagram” button" in response.content.decode()
