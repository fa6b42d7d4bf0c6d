"""Calls to a workspace's URL (request(workspace_url=True)) reach only public addresses: every
redirect's target is checked before it is followed, and the address each connection actually
reached is checked, whatever the name resolved to when the URL was saved."""

import socket

import pytest

from integrations import http
from tests.integrations.conftest import Answer

# Every test here runs with the fast outbound settings of conftest.py.
pytestmark = pytest.mark.usefixtures("outbound")

REAL_GETADDRINFO = socket.getaddrinfo


@pytest.fixture
def public_only(settings):
    """Private hosts refused, except this test server's 127.0.0.1 (127.0.0.2 stays private)."""
    settings.OUTBOUND_ALLOW_PRIVATE_HOSTS = False
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]


@pytest.fixture
def rebinding(monkeypatch, settings):
    """n8n.example.com looks public when checked (93.184.215.14) but connects to 127.0.0.1."""
    settings.OUTBOUND_ALLOW_PRIVATE_HOSTS = False
    settings.OUTBOUND_ALLOWED_NETWORKS = []

    def getaddrinfo(host, port, *args, **kwargs):
        if host == "n8n.example.com":
            return REAL_GETADDRINFO("93.184.215.14" if port is None else "127.0.0.1", port, *args, **kwargs)
        return REAL_GETADDRINFO(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def _port(server) -> int:
    return int(server.url().rsplit(":", 1)[1].strip("/"))


def test_it_refuses_a_redirect_into_a_private_network(server, public_only):
    server.answer(Answer(status=302, headers={"Location": f"http://127.0.0.2:{_port(server)}/admin"}))
    with pytest.raises(http.ProviderError) as caught:
        http.request("n8n", "GET", server.url("/start"), workspace_url=True)
    assert caught.value.outcome == "private_address" and not caught.value.retryable
    assert "127.0.0.2 points into a private network" in caught.value.message
    assert [hit.path for hit in server.hits] == ["/start"]


def test_it_refuses_a_redirect_to_another_scheme(server, public_only):
    server.answer(Answer(status=301, headers={"Location": "file:///etc/passwd"}))
    with pytest.raises(http.ProviderError) as caught:
        http.request("cms", "GET", server.url("/start"), workspace_url=True)
    assert caught.value.outcome == "private_address"


def test_it_follows_a_redirect_to_an_allowed_address(server, public_only):
    server.answer(Answer(status=302, headers={"Location": "/next"}), Answer(body=b'{"here": true}'))
    response = http.request("n8n", "GET", server.url("/start"), workspace_url=True)
    assert response.json() == {"here": True}
    assert [hit.path for hit in server.hits] == ["/start", "/next"]


def test_it_refuses_a_name_that_resolves_to_a_private_address_when_connecting(server, rebinding):
    url = f"http://n8n.example.com:{_port(server)}/api/v1/workflows"
    assert http.private_host_problem(url) is None  # what the check on saving saw
    with pytest.raises(http.ProviderError) as caught:
        http.request("n8n", "GET", url, workspace_url=True)
    assert caught.value.outcome == "private_address"
    assert "n8n.example.com points into a private network (127.0.0.1)" in caught.value.message
    assert server.hits == []  # connected, found private, closed before sending anything


def test_it_leaves_calls_to_the_platforms_own_providers_alone(server, rebinding):
    url = f"http://n8n.example.com:{_port(server)}/v1/models"
    assert http.request("openai", "GET", url).status_code == 200


def test_it_allows_private_addresses_when_the_setting_says_so(server, rebinding, settings):
    settings.OUTBOUND_ALLOW_PRIVATE_HOSTS = True
    server.answer(Answer(status=302, headers={"Location": f"http://127.0.0.1:{_port(server)}/next"}))
    assert http.request("n8n", "GET", f"http://n8n.example.com:{_port(server)}/", workspace_url=True).status_code == 200


def test_it_says_why_n8n_was_not_called(server, rebinding):
    from integrations.n8n.client import N8nClient, N8nError

    client = N8nClient(base_url=f"http://n8n.example.com:{_port(server)}", api_key="k")
    with pytest.raises(N8nError) as caught:
        client.list_workflows()
    assert "was not called: n8n.example.com points into a private network" in caught.value.message
