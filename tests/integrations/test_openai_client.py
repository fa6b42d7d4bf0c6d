import logging
import socket

import pytest
from prometheus_client import REGISTRY

from integrations.http import CircuitOpenError, ProviderError
from integrations.openai.client import ModerationRefused, NotConfigured, generate_image
from tests.fake_openai import Reply

# Every test here runs with the fast outbound settings of conftest.py.
pytestmark = pytest.mark.usefixtures("outbound")


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def configure_openai(settings, **values) -> None:
    """Override OUTBOUND_HTTP for the openai provider, on a copy so no other test sees it."""
    conf = settings.OUTBOUND_HTTP
    providers = conf["providers"]
    settings.OUTBOUND_HTTP = {**conf, "providers": {**providers, "openai": {**providers.get("openai", {}), **values}}}


def test_it_returns_the_decoded_image(fake_openai):
    assert generate_image(prompt="A red bicycle") == fake_openai.image


def test_it_sends_the_configured_model_and_the_prompt(fake_openai, settings):
    settings.OPENAI_IMAGE_MODEL = "gpt-image-test"

    generate_image(prompt="A red bicycle", size="1024x1536")

    [received] = fake_openai.requests
    assert (received.method, received.path) == ("POST", "/v1/images/generations")
    assert received.headers["authorization"] == "Bearer sk-test"
    assert received.json == {"model": "gpt-image-test", "prompt": "A red bicycle", "size": "1024x1536"}


def test_it_sends_the_model_the_caller_chose(fake_openai):
    generate_image(prompt="A red bicycle", model="gpt-image-other")

    assert fake_openai.requests[0].json["model"] == "gpt-image-other"


def test_it_raises_a_retryable_error_on_a_500_without_retrying(fake_openai):
    fake_openai.fail(500)

    with pytest.raises(ProviderError) as caught:
        generate_image(prompt="A red bicycle")

    assert caught.value.retryable is True
    assert caught.value.status == 500
    assert "server had an error" in caught.value.message
    assert len(fake_openai.requests) == 1


def test_it_raises_a_retryable_error_on_a_timeout(fake_openai):
    fake_openai.hang()

    with pytest.raises(ProviderError) as caught:
        generate_image(prompt="A red bicycle")

    assert caught.value.retryable is True
    assert caught.value.outcome == "timeout"


def test_it_raises_a_retryable_error_when_openai_is_unreachable(fake_openai, settings):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.OPENAI_BASE_URL = f"http://127.0.0.1:{port}/v1"  # nothing listens there now

    with pytest.raises(ProviderError) as caught:
        generate_image(prompt="A red bicycle")

    assert caught.value.retryable is True
    assert caught.value.outcome == "connection_error"


def test_it_raises_a_retryable_error_when_rate_limited(fake_openai):
    fake_openai.reply(Reply(429, {"error": {"message": "Rate limit reached", "type": "requests", "code": None}}))

    with pytest.raises(ProviderError) as caught:
        generate_image(prompt="A red bicycle")

    assert caught.value.retryable is True
    assert caught.value.outcome == "rate_limited"


def test_it_raises_moderation_refused_when_the_safety_system_refuses(fake_openai):
    fake_openai.refuse_moderation()

    with pytest.raises(ModerationRefused) as caught:
        generate_image(prompt="Something not allowed")

    assert caught.value.retryable is False
    assert "rejected by the safety system" in caught.value.message


def test_it_recognises_the_older_content_policy_violation_code(fake_openai):
    message = "Your request was rejected as a result of our safety system."
    body = {"error": {"message": message, "type": "invalid_request_error", "code": "content_policy_violation"}}
    fake_openai.reply(Reply(400, body))

    with pytest.raises(ModerationRefused):
        generate_image(prompt="Something not allowed")


def test_it_raises_a_final_error_for_a_bad_key(fake_openai):
    fake_openai.reject_key()

    with pytest.raises(ProviderError) as caught:
        generate_image(prompt="A red bicycle")

    assert not isinstance(caught.value, ModerationRefused)
    assert caught.value.retryable is False
    assert caught.value.status == 401
    assert "Incorrect API key provided" in caught.value.message


def test_it_raises_not_configured_without_a_key_and_sends_nothing(fake_openai, settings):
    settings.OPENAI_API_KEY = ""

    with pytest.raises(NotConfigured) as caught:
        generate_image(prompt="A red bicycle")

    assert caught.value.retryable is False
    assert "OPENAI_API_KEY" in caught.value.message
    assert fake_openai.requests == []


def test_it_raises_a_final_error_for_an_answer_without_image_data(fake_openai):
    fake_openai.reply(Reply(body={"created": 1, "data": [{"url": "https://example.com/image.png"}]}))

    with pytest.raises(ProviderError) as caught:
        generate_image(prompt="A red bicycle")

    assert caught.value.retryable is False
    assert "without image data" in caught.value.message


def test_it_opens_the_circuit_after_repeated_failures_and_then_fails_fast(fake_openai, settings):
    configure_openai(settings, breaker_fail_max=2)
    fake_openai.fail(500, times=2)
    for _ in range(2):
        with pytest.raises(ProviderError):
            generate_image(prompt="A red bicycle")

    with pytest.raises(CircuitOpenError) as caught:
        generate_image(prompt="A red bicycle")

    assert caught.value.retryable is True
    assert len(fake_openai.requests) == 2


def test_it_does_not_count_refusals_towards_the_circuit(fake_openai, settings):
    configure_openai(settings, breaker_fail_max=1)
    fake_openai.refuse_moderation()
    with pytest.raises(ModerationRefused):
        generate_image(prompt="Something not allowed")

    assert generate_image(prompt="A red bicycle") == fake_openai.image


def test_it_counts_calls_in_the_outbound_metrics(fake_openai):
    name = "outbound_requests_total"
    successes = sample(name, provider="openai", outcome="success")
    server_errors = sample(name, provider="openai", outcome="server_error")
    fake_openai.fail(503)

    with pytest.raises(ProviderError):
        generate_image(prompt="A red bicycle")
    generate_image(prompt="A red bicycle")

    assert sample(name, provider="openai", outcome="server_error") == server_errors + 1
    assert sample(name, provider="openai", outcome="success") == successes + 1


def test_it_logs_neither_the_key_nor_the_prompt_above_debug(fake_openai):
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.INFO)
    handler.emit = records.append
    loggers = [logging.getLogger("integrations.http"), logging.getLogger("integrations.openai.client")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        fake_openai.reject_key()
        with pytest.raises(ProviderError):
            generate_image(prompt="Secret launch of the blue bicycle")
        generate_image(prompt="Secret launch of the blue bicycle")
    finally:
        for logger in loggers:
            logger.removeHandler(handler)

    assert records
    for record in records:
        text = record.getMessage() + repr(record.__dict__)
        assert "sk-test" not in text
        assert "Secret launch" not in text
