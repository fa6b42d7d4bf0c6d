"""The n8n connection page: base URL and key, the test button, the platform default."""

import pytest
from django.db import connection as db

from integrations.n8n import services
from integrations.n8n.models import N8nConnection
from tests.integrations.n8n.conftest import UNREACHABLE_URL


@pytest.fixture
def bob_client(client, bob):
    client.force_login(bob)
    return client


def test_it_explains_what_to_configure_when_there_is_no_n8n(alice_client):
    response = alice_client.get("/n8n/")
    assert response.status_code == 200
    assert b"No n8n is configured yet" in response.content
    assert b"N8N_BASE_URL" in response.content


def test_it_defaults_to_the_platforms_n8n(alice_client, fake_n8n):
    response = alice_client.get("/n8n/")
    assert fake_n8n.base_url.encode() in response.content
    assert b"platform n8n" in response.content


def test_it_saves_an_owners_base_url_and_key_encrypted_at_rest(alice_client, alice_workspace):
    response = alice_client.post("/n8n/", {"base_url": "https://n8n.alice.example", "api_key": "alice-key-123"})
    assert response.status_code == 302
    connection = N8nConnection.objects.get(workspace=alice_workspace)
    assert (connection.base_url, connection.api_key) == ("https://n8n.alice.example", "alice-key-123")
    with db.cursor() as cursor:
        cursor.execute("SELECT api_key FROM n8n_n8nconnection")
        assert "alice-key-123" not in cursor.fetchone()[0]


def test_it_keeps_the_stored_key_when_an_empty_one_is_sent(alice_client, alice_workspace):
    alice_client.post("/n8n/", {"base_url": "https://n8n.alice.example", "api_key": "alice-key-123"})
    alice_client.post("/n8n/", {"base_url": "https://n8n.alice.example", "api_key": ""})
    assert N8nConnection.objects.get(workspace=alice_workspace).api_key == "alice-key-123"


def test_it_drops_the_old_key_when_moving_to_another_n8n_without_a_new_one(alice_client, alice_workspace):
    alice_client.post("/n8n/", {"base_url": "https://n8n.alice.example", "api_key": "alice-key-123"})
    alice_client.post("/n8n/", {"base_url": "https://n8n.elsewhere.example", "api_key": ""})
    assert N8nConnection.objects.get(workspace=alice_workspace).api_key == ""


def test_it_never_shows_the_key_on_the_page(alice_client):
    alice_client.post("/n8n/", {"base_url": "https://n8n.alice.example", "api_key": "alice-key-123"})
    assert b"alice-key-123" not in alice_client.get("/n8n/").content


def test_it_refuses_a_base_url_that_is_not_a_url(alice_client):
    response = alice_client.post("/n8n/", {"base_url": "not a url at all"})
    assert response.status_code == 400
    assert response.content.count(b"Enter a valid URL") == 1


def test_it_refuses_a_base_url_that_is_not_http(alice_client, alice_workspace):
    response = alice_client.post("/n8n/", {"base_url": "ftp://n8n.alice.example"})
    assert response.status_code == 400
    assert not N8nConnection.objects.filter(base_url__startswith="ftp").exists()


def test_it_does_not_let_a_member_change_the_connection(bob_client, alice_workspace):
    response = bob_client.post("/n8n/", {"base_url": "https://evil.example"})
    assert response.status_code == 403
    assert not N8nConnection.objects.filter(workspace=alice_workspace, base_url="https://evil.example").exists()


def test_it_never_sends_the_platform_key_to_a_workspaces_own_n8n(alice_workspace, settings):
    settings.N8N_BASE_URL, settings.N8N_API_KEY = "https://n8n.platform.example", "platform-key"
    connection = services.connection_ensure(workspace=alice_workspace)
    connection.base_url = "https://n8n.alice.example"
    assert services.endpoint_for(connection).api_key == ""


def test_it_says_the_connection_works_in_the_connection_test(alice_client, fake_n8n):
    response = alice_client.post("/n8n/test/", follow=True)
    assert b"the API key works" in response.content


def test_it_says_n8n_is_unreachable_in_the_connection_test(alice_client, alice_workspace):
    alice_client.post("/n8n/", {"base_url": UNREACHABLE_URL, "api_key": "k"})
    response = alice_client.post("/n8n/test/", follow=True)
    assert b"could not be reached" in response.content
    assert "could not be reached" in N8nConnection.objects.get(workspace=alice_workspace).last_error


def test_it_says_the_key_is_bad_in_the_connection_test(alice_client, fake_n8n):
    alice_client.post("/n8n/", {"base_url": fake_n8n.base_url, "api_key": "wrong-key"})
    response = alice_client.post("/n8n/test/", follow=True)
    assert b"refused the API key (HTTP 401)" in response.content


def test_it_says_the_public_api_is_off_in_the_connection_test(alice_client, fake_n8n):
    fake_n8n.public_api = False
    response = alice_client.post("/n8n/test/", follow=True)
    assert b"public API is off" in response.content


def test_it_updates_n8ns_credentials_when_the_secrets_are_replaced(alice_client, alice_workspace, alice_workflow, fake_n8n):
    before = N8nConnection.objects.get(workspace=alice_workspace)
    alice_client.post("/n8n/secret/rotate/")
    after = N8nConnection.objects.get(workspace=alice_workspace)
    assert after.callback_secret != before.callback_secret and after.trigger_token != before.trigger_token
    assert fake_n8n.credentials[after.n8n_credentials["callback"]]["data"] == {"hmacSecret": after.callback_secret}
    assert fake_n8n.credentials[after.n8n_credentials["trigger"]]["data"]["value"] == after.trigger_token


def test_it_keeps_the_secret_when_n8n_cannot_take_the_new_one(alice_client, alice_workspace, alice_workflow, fake_n8n):
    before = N8nConnection.objects.get(workspace=alice_workspace)
    fake_n8n.fail("PATCH", "/api/v1/credentials/", 500)  # PATCH is not retried
    response = alice_client.post("/n8n/secret/rotate/", follow=True)
    assert b"could not all be replaced" in response.content
    after = N8nConnection.objects.get(workspace=alice_workspace)
    assert (after.trigger_token, after.callback_secret) == (before.trigger_token, before.callback_secret)


@pytest.mark.parametrize("url", ["http://127.0.0.1:5678", "http://169.254.169.254", "http://10.0.0.5", "http://localhost:5678"])
def test_it_refuses_a_private_address_when_private_hosts_are_not_allowed(alice_client, settings, url):
    settings.OUTBOUND_ALLOW_PRIVATE_HOSTS = False
    response = alice_client.post("/n8n/", {"base_url": url, "api_key": "k"})
    assert response.status_code == 400
    assert "private network" in response.content.decode()
    assert not N8nConnection.objects.filter(base_url=url).exists()
