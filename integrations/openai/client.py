"""OpenAI image generation and chat: the only code that knows the OpenAI SDK.

Calls run under ``integrations.http.call("openai", ...)``, so they share the provider's circuit
breaker, metrics and log line with every other outbound call. SDK errors become
``ProviderError``s with a human message and ``retryable`` set.
"""

from __future__ import annotations

import base64
import binascii
import logging
from typing import Any

import httpx2
import openai
from django.conf import settings

from integrations import http
from integrations.http import ProviderError

logger = logging.getLogger(__name__)

PROVIDER = "openai"
# Generating one image commonly takes 30-90 s; OUTBOUND_HTTP["providers"]["openai"]["timeout"] overrides.
DEFAULT_TIMEOUT = 120.0
# OpenAI answers a prompt its safety system refused with one of these codes.
MODERATION_CODES = frozenset({"moderation_blocked", "content_policy_violation"})


class NotConfigured(ProviderError):
    """No OpenAI API key is set, so nothing was sent."""


class ModerationRefused(ProviderError):
    """OpenAI's safety system refused the prompt; the same prompt will be refused again."""

    def __init__(self, message: str, *, detail: str = "", **kwargs) -> None:
        super().__init__(message, **kwargs)
        self.detail = detail  # OpenAI's own words, without our prefix


def generate_image(*, prompt: str, model: str | None = None, size: str = "1024x1024") -> bytes:
    """Generate one image for ``prompt`` and return its bytes (PNG unless the model says otherwise).

    ``model`` defaults to ``settings.OPENAI_IMAGE_MODEL``. Raises NotConfigured without an API key,
    ModerationRefused when the prompt is refused, CircuitOpenError while the provider's circuit is
    open, and ProviderError for any other failure.
    """
    if not settings.OPENAI_API_KEY:
        raise NotConfigured(
            "OpenAI is not configured: set OPENAI_API_KEY to generate images.", provider=PROVIDER, retryable=False
        )
    model = model or settings.OPENAI_IMAGE_MODEL
    logger.debug("openai images.generate: model=%s size=%s prompt=%r", model, size, prompt)

    def generate() -> bytes:
        # One client per call: settings (key, base URL) may change between calls, and closing
        # the client frees its connection pool. Building one costs far less than a generation.
        try:
            with _client() as client:
                response = client.images.generate(model=model, prompt=prompt, size=size, timeout=_timeout())
        except openai.OpenAIError as exc:
            raise _translate(exc) from exc
        return _decode(response)

    # Translated errors carry the http layer's outcomes, so its default rule decides what opens
    # the circuit: timeouts, connection errors and 5xx do; 429, refusals and other 4xx do not.
    return http.call(PROVIDER, "images.generate", generate)


def chat(*, system: str, prompt: str, model: str | None = None, max_tokens: int = 800) -> str:
    """The model's answer to ``prompt`` under the ``system`` instructions, as text.

    ``model`` defaults to ``settings.OPENAI_CHAT_MODEL``. Raises NotConfigured without an API
    key, CircuitOpenError while the provider's circuit is open, ProviderError otherwise.
    """
    if not settings.OPENAI_API_KEY:
        raise NotConfigured("OpenAI is not configured: set OPENAI_API_KEY.", provider=PROVIDER, retryable=False)
    model = model or settings.OPENAI_CHAT_MODEL

    def complete() -> str:
        try:
            with _client() as client:
                response = client.chat.completions.create(
                    model=model,
                    messages=[{"role": "system", "content": system}, {"role": "user", "content": prompt}],
                    max_completion_tokens=max_tokens,
                    timeout=_timeout(),
                )
        except openai.OpenAIError as exc:
            raise _translate(exc) from exc
        choices = response.choices or []
        text = choices[0].message.content if choices and choices[0].message else None
        if not text:
            raise ProviderError("OpenAI answered without text.", provider=PROVIDER, retryable=False)
        return text

    return http.call(PROVIDER, "chat.completions.create", complete)


def _client() -> openai.OpenAI:
    return openai.OpenAI(
        api_key=settings.OPENAI_API_KEY,
        base_url=settings.OPENAI_BASE_URL or None,  # None: the SDK's default endpoint
        # No SDK retries. A generation is billed, and a retry after a read timeout may pay for an
        # image twice and hold a worker for twice the timeout; the breaker should also see one
        # failure per logical call. The Celery task retries later with backoff instead, as
        # http.request() leaves non-idempotent POSTs to its callers.
        max_retries=0,
    )


def _timeout() -> httpx2.Timeout:
    conf = settings.OUTBOUND_HTTP
    override = conf.get("providers", {}).get(PROVIDER, {})
    # The general timeout suits quick API calls, not image generation: only an OpenAI override applies.
    read = override.get("timeout", DEFAULT_TIMEOUT)
    connect = override.get("connect_timeout", conf.get("connect_timeout", 5.0))
    return httpx2.Timeout(read, connect=connect)


def _translate(exc: openai.OpenAIError) -> ProviderError:
    """A ProviderError with a human message for an SDK exception."""
    if isinstance(exc, openai.APITimeoutError):  # before APIConnectionError, its parent
        return ProviderError(
            "OpenAI did not answer in time.", provider=PROVIDER, retryable=True, outcome="timeout"
        )
    if isinstance(exc, openai.APIConnectionError):
        return ProviderError(
            "Could not connect to OpenAI.", provider=PROVIDER, retryable=True, outcome="connection_error"
        )
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        detail = _message(exc)
        if _is_moderation(exc):
            return ModerationRefused(
                f"OpenAI refused the prompt: {detail}",
                detail=detail,
                provider=PROVIDER,
                retryable=False,
                status=status,
                outcome="client_error",
            )
        if status == 429:
            return ProviderError(
                f"OpenAI rate limit or quota reached: {detail}",
                provider=PROVIDER,
                retryable=True,
                status=status,
                retry_after=_retry_after(exc),
                outcome="rate_limited",
            )
        if status >= 500:
            return ProviderError(
                f"OpenAI failed (HTTP {status}): {detail}",
                provider=PROVIDER,
                retryable=True,
                status=status,
                outcome="server_error",
            )
        return ProviderError(
            f"OpenAI refused the request (HTTP {status}): {detail}",
            provider=PROVIDER,
            retryable=False,
            status=status,
            outcome="client_error",
        )
    # Anything else (an unparseable answer...): trying again will not help.
    return ProviderError(f"OpenAI call failed: {type(exc).__name__}", provider=PROVIDER, retryable=False)


def _is_moderation(exc: openai.APIStatusError) -> bool:
    if exc.status_code != 400:
        return False
    if exc.code in MODERATION_CODES:
        return True
    # GPT image models report other prompt problems with this type too; only a safety refusal counts.
    return exc.type == "image_generation_user_error" and "safety" in _message(exc).lower()


def _message(exc: openai.APIStatusError) -> str:
    """OpenAI's own message from the error body, without the SDK's "Error code: 400 - " prefix."""
    body: Any = exc.body
    message = body.get("message") if isinstance(body, dict) else None
    if isinstance(message, str) and message:
        return message
    return f"HTTP {exc.status_code} without a message"


def _retry_after(exc: openai.APIStatusError) -> float | None:
    try:
        return float(exc.response.headers["retry-after"])
    except (KeyError, ValueError):
        return None


def _decode(response: Any) -> bytes:
    data = response.data or []
    b64 = data[0].b64_json if data else None
    if not b64:
        raise ProviderError("OpenAI answered without image data.", provider=PROVIDER, retryable=False)
    try:
        return base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        raise ProviderError("OpenAI answered with image data that is not base64.", provider=PROVIDER) from None
