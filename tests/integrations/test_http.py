import json
import logging
import socket
from datetime import UTC, datetime

import pytest
import redis
import requests
import stripe
from prometheus_client import REGISTRY

from integrations import http
from integrations.http import CircuitOpenError, ProviderError
from marketing.logging import JsonFormatter
from tests.integrations.conftest import Answer, ScriptedServer

# Every test here runs with the fast outbound settings of conftest.py.
pytestmark = pytest.mark.usefixtures("outbound")


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def fail_until_open(server, provider: str, times: int = 3) -> None:
    server.answer(*[Answer(503)] * times)
    for _ in range(times):
        with pytest.raises(ProviderError):
            http.request(provider, "GET", server.url("/"), retries=0)


def test_it_returns_a_2xx_response(server):
    server.answer(Answer(201, b'{"id": 7}'))

    response = http.request("acme", "POST", server.url("/things"), json={"name": "x"})

    assert response.json() == {"id": 7}
    assert [(hit.method, hit.path) for hit in server.hits] == [("POST", "/things")]


def test_it_raises_a_retryable_error_after_retrying_a_read_timeout(server, outbound):
    outbound["providers"] = {"slow": {"timeout": 0.05}}
    server.answer(*[Answer(delay=0.25)] * 3)

    with pytest.raises(ProviderError) as caught:
        http.request("slow", "GET", server.url("/"))

    assert caught.value.retryable is True
    assert caught.value.outcome == "timeout"
    assert caught.value.status is None
    assert len(server.hits) == 3  # the first attempt and the 2 configured retries


def test_it_retries_a_get_that_gets_503_then_succeeds(server):
    server.answer(Answer(503), Answer(200, b'{"ok": 1}'))

    response = http.request("acme", "GET", server.url("/"))

    assert response.json() == {"ok": 1}
    assert len(server.hits) == 2


def test_it_does_not_retry_a_post_that_gets_503(server):
    server.answer(Answer(503), Answer(200))

    with pytest.raises(ProviderError) as caught:
        http.request("acme", "POST", server.url("/"), json={})

    assert caught.value.retryable is True
    assert caught.value.status == 503
    assert len(server.hits) == 1


def test_it_retries_a_post_declared_idempotent(server):
    server.answer(Answer(503), Answer(200))

    http.request("acme", "POST", server.url("/"), json={}, idempotent=True)

    assert len(server.hits) == 2


def test_it_does_not_retry_a_4xx_and_keeps_the_response(server):
    server.answer(Answer(400, b'{"error": {"message": "bad field"}}'))

    with pytest.raises(ProviderError) as caught:
        http.request("acme", "GET", server.url("/"))

    assert caught.value.retryable is False
    assert caught.value.status == 400
    assert caught.value.provider == "acme"
    assert caught.value.response.json() == {"error": {"message": "bad field"}}
    assert len(server.hits) == 1


def test_it_does_not_count_4xx_towards_the_breaker(server):
    server.answer(*[Answer(404)] * 3)
    for _ in range(3):
        with pytest.raises(ProviderError):
            http.request("acme", "GET", server.url("/"))

    http.request("acme", "GET", server.url("/"))

    assert len(server.hits) == 4


def test_it_stops_retrying_when_retry_after_is_too_long(server):
    server.answer(Answer(429, headers={"Retry-After": "120"}))

    with pytest.raises(ProviderError) as caught:
        http.request("acme", "GET", server.url("/"))

    assert caught.value.retryable is True
    assert caught.value.retry_after == 120
    assert len(server.hits) == 1


def test_it_waits_as_long_as_retry_after_asks(server, monkeypatch):
    waits: list[float] = []
    monkeypatch.setattr(http, "_sleep", waits.append)
    server.answer(Answer(429, headers={"Retry-After": "3"}), Answer(200))

    http.request("acme", "GET", server.url("/"))

    assert len(waits) == 1
    assert waits[0] >= 3
    assert len(server.hits) == 2


def test_it_counts_one_breaker_failure_per_call_not_per_attempt(server):
    server.answer(*[Answer(503)] * 6)  # two calls of three attempts each, under fail_max=3
    for _ in range(2):
        with pytest.raises(ProviderError):
            http.request("acme", "GET", server.url("/"))

    http.request("acme", "GET", server.url("/"))

    assert len(server.hits) == 7


def test_it_fails_fast_once_the_circuit_is_open(server):
    fail_until_open(server, "acme")

    with pytest.raises(CircuitOpenError) as caught:
        http.request("acme", "GET", server.url("/"))

    assert caught.value.retryable is True
    assert 0 < caught.value.retry_after <= 60
    assert "circuit open" in str(caught.value)
    assert len(server.hits) == 3


def test_it_keeps_one_providers_open_circuit_from_others(server):
    fail_until_open(server, "acme")

    http.request("other", "GET", server.url("/"))

    assert len(server.hits) == 4


def test_it_closes_the_circuit_when_a_trial_succeeds_after_the_reset_timeout(server, time_machine):
    time_machine.move_to(datetime(2030, 1, 1, tzinfo=UTC), tick=True)
    fail_until_open(server, "acme")
    time_machine.shift(61)

    http.request("acme", "GET", server.url("/trial"))
    server.answer(Answer(503))
    with pytest.raises(ProviderError):  # closed again: one failure no longer opens it
        http.request("acme", "GET", server.url("/"), retries=0)
    http.request("acme", "GET", server.url("/"))

    assert [hit.path for hit in server.hits][3:] == ["/trial", "/", "/"]


def test_it_reopens_the_circuit_when_the_trial_fails(server, time_machine):
    time_machine.move_to(datetime(2030, 1, 1, tzinfo=UTC), tick=True)
    fail_until_open(server, "acme")
    time_machine.shift(61)
    server.answer(Answer(503))

    with pytest.raises(ProviderError):
        http.request("acme", "GET", server.url("/trial"), retries=0)
    with pytest.raises(CircuitOpenError):
        http.request("acme", "GET", server.url("/"))

    assert len(server.hits) == 4


def test_it_keeps_the_circuit_state_in_redis_when_configured(server, settings, outbound):
    if not settings.REDIS_URL:
        pytest.skip("REDIS_URL is not set")
    fail_until_open(server, "acme")

    client = redis.Redis.from_url(settings.REDIS_URL)

    assert client.get(f"{outbound['breaker_namespace']}:acme:pybreaker:state") == b"open"


def test_it_counts_outcomes_and_latency_per_provider(server):
    before_success = sample("outbound_requests_total", provider="metered", outcome="success")
    before_5xx = sample("outbound_requests_total", provider="metered", outcome="server_error")
    before_count = sample("outbound_request_duration_seconds_count", provider="metered")
    server.answer(Answer(200), Answer(500))

    http.request("metered", "GET", server.url("/"))
    with pytest.raises(ProviderError):
        http.request("metered", "GET", server.url("/"), retries=0)

    assert sample("outbound_requests_total", provider="metered", outcome="success") == before_success + 1
    assert sample("outbound_requests_total", provider="metered", outcome="server_error") == before_5xx + 1
    assert sample("outbound_request_duration_seconds_count", provider="metered") == before_count + 2


def test_it_counts_circuit_open_refusals(server):
    before = sample("outbound_requests_total", provider="acme", outcome="circuit_open")
    fail_until_open(server, "acme")

    with pytest.raises(CircuitOpenError):
        http.request("acme", "GET", server.url("/"))

    assert sample("outbound_requests_total", provider="acme", outcome="circuit_open") == before + 1


def test_it_logs_one_line_per_call_without_secrets(server, caplog):
    caplog.set_level(logging.INFO, logger="integrations.http")
    server.answer(Answer(503), Answer(200))

    http.request(
        "graph",
        "GET",
        server.url("/v23.0/me?access_token=SECRET-IN-QUERY"),
        params={"appsecret_proof": "SECRET-IN-PARAMS"},
        headers={"Authorization": "Bearer SECRET-IN-HEADER"},
    )

    [record] = [r for r in caplog.records if r.name == "integrations.http"]
    assert (record.provider, record.method, record.url) == ("graph", "GET", server.url("/v23.0/me"))
    assert (record.status, record.outcome, record.attempts) == (200, "success", 2)
    assert record.duration_ms >= 0
    line = JsonFormatter().format(record)
    assert json.loads(line)["url"] == server.url("/v23.0/me")
    assert "SECRET" not in line
    assert "SECRET" not in caplog.text
    assert "SECRET-IN-HEADER" in server.hits[0].headers["Authorization"]  # it was sent, just not logged


def test_it_keeps_secrets_out_of_the_error_message(caplog):
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    with pytest.raises(ProviderError) as caught:
        http.request("graph", "GET", f"http://user:SECRET-PASSWORD@127.0.0.1:{port}/me?access_token=SECRET", retries=0)

    assert caught.value.outcome == "connection_error"
    assert caught.value.retryable is True
    assert "SECRET" not in str(caught.value)
    assert caught.value.__cause__ is None
    assert "SECRET" not in caplog.text


def test_it_does_not_keep_cookies_between_calls(server):
    server.answer(Answer(headers={"Set-Cookie": "session=alice; Path=/"}))

    http.request("acme", "GET", server.url("/"))
    http.request("acme", "GET", server.url("/"))

    assert "Cookie" not in server.hits[1].headers


def test_it_sends_what_session_request_would_send(server):
    call = {"params": {"b": "2 3"}, "headers": {"X-Key": "k", "Accept-Encoding": None}, "auth": ("user", "pw")}
    server.answer(Answer(302, headers={"Location": "/next"}), Answer(200), Answer(302, headers={"Location": "/next"}), Answer(200))

    response = http.request("acme", "GET", server.url("/first?a=1"), **call)
    with requests.Session() as plain:
        plain.trust_env = False
        plain.get(server.url("/first?a=1"), **call)

    assert response.status_code == 200 and [r.status_code for r in response.history] == [302]
    ours, theirs = server.hits[:2], server.hits[2:]
    assert [(hit.method, hit.path) for hit in ours] == [("GET", "/first?a=1&b=2+3"), ("GET", "/next")]
    assert [(hit.method, hit.path, hit.headers) for hit in ours] == [(hit.method, hit.path, hit.headers) for hit in theirs]


def test_it_sends_form_fields_and_parameters_as_session_request_would(server):
    call = {
        "params": {"fields": "id,status_code", "ids": ["1", "2"], "skip": None, "n": 3},
        "data": {"caption": "Été #linen & more", "image_url": "https://cdn.example/a.jpg?x=1", "tags": ("a", "b"), "none": None, "on": True},
    }
    http.request("acme", "POST", server.url("/media"), **call)
    with requests.Session() as plain:
        plain.trust_env = False
        plain.post(server.url("/media"), **call)

    ours, theirs = server.hits
    assert (ours.method, ours.path, ours.headers, ours.body) == (theirs.method, theirs.path, theirs.headers, theirs.body)
    assert ours.headers["Content-Type"] == "application/x-www-form-urlencoded"


def test_it_answers_with_the_response_requests_would_build(server):
    answer = Answer(201, '{"name": "Été"}'.encode(), headers={"X-Trace": "t1"})
    server.answer(Answer(301, headers={"Location": "/there"}), answer, Answer(301, headers={"Location": "/there"}), answer)

    ours = http.request("acme", "GET", server.url("/here"))
    with requests.Session() as plain:
        plain.trust_env = False
        theirs = plain.get(server.url("/here"))

    def seen(response):
        return (
            response.status_code, response.reason, response.url, response.encoding, response.content, response.text,
            response.headers["x-trace"], [(r.status_code, r.url) for r in response.history], response.request.url,
        )

    assert seen(ours) == seen(theirs)
    assert ours.json() == {"name": "Été"}


def test_it_finds_an_origins_connection_pool_once_and_again_once_it_is_closed(server, monkeypatch):
    lookups = []
    find = requests.adapters.HTTPAdapter.get_connection_with_tls_context
    monkeypatch.setattr(
        requests.adapters.HTTPAdapter,
        "get_connection_with_tls_context",
        lambda adapter, request, *args, **kwargs: lookups.append(request.url) or find(adapter, request, *args, **kwargs),
    )
    with ScriptedServer() as other:
        for url in (server.url("/a"), server.url("/b?x=1"), other.url("/c"), server.url("/d")):
            http.request("pools", "GET", url)
        assert len(lookups) == 2  # one per origin
        adapter = http._session("pools").get_adapter(server.url())
        adapter.close()

        assert http.request("pools", "GET", server.url("/e")).json() == {"ok": True}
        assert len(lookups) == 3
        assert [hit.path for hit in server.hits] == ["/a", "/b?x=1", "/d", "/e"]


def test_it_forgets_remembered_pools_past_its_limit(server, monkeypatch):
    monkeypatch.setattr(http, "MAX_REMEMBERED_POOLS", 1)
    with ScriptedServer() as other:
        for url in (server.url("/a"), other.url("/b"), server.url("/c"), other.url("/d")):
            assert http.request("few-pools", "GET", url).json() == {"ok": True}
        adapter = http._session("few-pools").get_adapter(server.url())

        assert len(adapter._pools) == 1
        assert [hit.path for hit in server.hits + other.hits] == ["/a", "/c", "/b", "/d"]


def test_it_returns_the_result_of_a_wrapped_sdk_call_and_logs_it(caplog):
    caplog.set_level(logging.INFO, logger="integrations.http")
    before = sample("outbound_requests_total", provider="sdk", outcome="success")

    result = http.call("sdk", "images.generate", lambda: "an image")

    [record] = [r for r in caplog.records if r.name == "integrations.http"]
    assert result == "an image"
    assert (record.provider, record.operation, record.outcome) == ("sdk", "images.generate", "success")
    assert sample("outbound_requests_total", provider="sdk", outcome="success") == before + 1


def test_it_counts_wrapped_sdk_failures_against_the_same_breaker(server):
    def timing_out() -> None:
        raise TimeoutError("sdk timed out")

    for _ in range(3):
        with pytest.raises(TimeoutError):
            http.call("acme", "images.generate", timing_out)

    with pytest.raises(CircuitOpenError):
        http.request("acme", "GET", server.url("/"))
    assert server.hits == []


def test_it_does_not_count_wrapped_sdk_errors_that_are_not_transient(server):
    class BadRequest(Exception):
        status_code = 400

    def refusing() -> None:
        raise BadRequest("invalid prompt")

    for _ in range(3):
        with pytest.raises(BadRequest):
            http.call("acme", "images.generate", refusing)

    http.request("acme", "GET", server.url("/"))
    assert len(server.hits) == 1


def test_it_logs_the_status_of_a_stripe_sdk_error(caplog):
    caplog.set_level(logging.INFO, logger="integrations.http")

    def missing() -> None:
        raise stripe.InvalidRequestError("No such product: 'plan_pro'", "id", code="resource_missing", http_status=404)

    with pytest.raises(stripe.InvalidRequestError):
        http.call("acme", "products.retrieve", missing)

    [record] = [r for r in caplog.records if r.name == "integrations.http"]
    assert (record.operation, record.status, record.outcome) == ("products.retrieve", 404, "error")


def test_it_lets_the_caller_say_which_sdk_errors_are_transient():
    class Overloaded(Exception):
        pass

    def overloaded() -> None:
        raise Overloaded

    for _ in range(3):
        with pytest.raises(Overloaded):
            http.call("acme", "chat", overloaded, is_transient=lambda exc: isinstance(exc, Overloaded))

    with pytest.raises(CircuitOpenError):
        http.call("acme", "chat", lambda: None)


def test_it_resets_the_failure_count_when_a_call_succeeds_between_failures(server):
    """fail_max=3 counts failures in a row: two, a success, two more leave the circuit closed."""
    server.answer(Answer(503), Answer(503), Answer(200), Answer(503), Answer(503), Answer(200))
    for answer in ("fail", "fail", "ok", "fail", "fail", "ok"):
        if answer == "ok":
            http.request("acme", "GET", server.url("/"), retries=0)
        else:
            with pytest.raises(ProviderError) as caught:
                http.request("acme", "GET", server.url("/"), retries=0)
            assert not isinstance(caught.value, CircuitOpenError)
    assert len(server.hits) == 6


@pytest.fixture
def redis_commands(settings, monkeypatch):
    """The names of the Redis commands this process sends from now on."""
    if not settings.REDIS_URL:
        pytest.skip("REDIS_URL is not set")
    commands = []
    execute = redis.Redis.execute_command

    def counted(self, *args, **options):
        commands.append(args[0])
        return execute(self, *args, **options)

    monkeypatch.setattr(redis.Redis, "execute_command", counted)
    return commands


def later(monkeypatch, seconds: float) -> None:
    """Moves the monotonic clock forward."""
    now = http.time.monotonic
    monkeypatch.setattr(http.time, "monotonic", lambda: now() + seconds)


def test_it_asks_redis_at_most_once_a_second_while_the_provider_is_healthy(server, monkeypatch, redis_commands):
    http.request("acme", "GET", server.url("/"))
    assert redis_commands[-1] == "MGET"
    redis_commands.clear()

    http.request("acme", "GET", server.url("/"))
    http.request("acme", "GET", server.url("/"))
    assert redis_commands == []

    later(monkeypatch, http.HEALTHY_READ_TTL)
    http.request("acme", "GET", server.url("/"))
    http.request("acme", "GET", server.url("/"))
    assert redis_commands == ["MGET"]


def test_it_sees_a_circuit_another_process_opened_within_a_second(server, settings, outbound, monkeypatch, redis_commands):
    http.request("acme", "GET", server.url("/"))
    namespace = f"{outbound['breaker_namespace']}:acme:pybreaker"
    other_process = redis.Redis.from_url(settings.REDIS_URL)
    other_process.set(f"{namespace}:state", "open")
    other_process.set(f"{namespace}:opened_at", int(datetime.now(UTC).timestamp()))

    http.request("acme", "GET", server.url("/"))  # within the second: still trusted
    later(monkeypatch, http.HEALTHY_READ_TTL)
    with pytest.raises(CircuitOpenError):
        http.request("acme", "GET", server.url("/"))

    assert len(server.hits) == 2


def test_it_asks_redis_again_after_a_failure_of_its_own(server, redis_commands):
    server.answer(Answer(200), Answer(503), Answer(200))
    http.request("acme", "GET", server.url("/"))
    with pytest.raises(ProviderError):
        http.request("acme", "GET", server.url("/"), retries=0)
    redis_commands.clear()

    http.request("acme", "GET", server.url("/"))

    assert redis_commands[0] == "MGET"


def test_it_takes_the_ca_bundle_from_the_environment_once(monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/bundle-of-the-environment.pem")
    monkeypatch.setattr(http, "_sessions", {})

    session = http._session("acme")

    assert session.verify == "/etc/ssl/bundle-of-the-environment.pem"
    assert session.trust_env is False


def test_it_keeps_reading_the_environment_per_call_when_it_names_a_proxy(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setattr(http, "_sessions", {})

    assert http._session("acme").trust_env is True
