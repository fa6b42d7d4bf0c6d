"""Rate limits for inbound URLs, with the ``limits`` library.

With REDIS_URL the counters live in Redis (one round trip a hit, through limits' Lua script) and
are shared by every process; without it, in this process's memory, which suits development.
Rates read like "60/minute" or "1000 per hour". ``redis_window`` names the Redis counter a hit
counts on, for a script that counts and does its own work in the same round trip.
"""

import functools
import logging
import time
from dataclasses import dataclass

from django.conf import settings
from limits import parse
from limits.errors import ConfigurationError
from limits.storage import MemoryStorage, RedisStorage, Storage
from limits.strategies import FixedWindowRateLimiter

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Verdict:
    limited: bool
    retry_after: int


@functools.cache
def _limiter(redis_url: str) -> FixedWindowRateLimiter:
    storage: Storage = RedisStorage(redis_url, socket_timeout=0.5, socket_connect_timeout=0.5) if redis_url else MemoryStorage()
    return FixedWindowRateLimiter(storage)


@dataclass(frozen=True)
class Window:
    """A fixed-window counter in Redis: ``key`` counts hits for ``seconds`` from the first; past ``limit`` they are refused."""

    key: str
    limit: int
    seconds: int


def window_lua(counter: str) -> str:
    """Lua counting one hit on the key ``counter`` (a Lua expression, KEYS[2] say) as limits' own
    script (incr_expire.lua) does, for scripts that count and do more in one round trip. It sets
    ``hits`` and ``limited``; ARGV[1] must hold the window's seconds and ARGV[2] the limit."""
    return (
        f'local hits = redis.call("incrby", {counter}, 1)\n'
        f'if hits == 1 then redis.call("expire", {counter}, ARGV[1]) end\n'
        "local limited = hits > tonumber(ARGV[2])\n"
    )


# Parsing a rate costs most of what building a window does (limits' regular expressions), and
# the rates are a handful of settings: each is parsed once per process.
_parse = functools.lru_cache(maxsize=64)(parse)


def _item(rate: str):
    try:
        return _parse(rate)
    except (ValueError, ConfigurationError):
        logger.error("not a rate like 60/minute", extra={"rate": rate})
        return None


def redis_window(*, scope: str, key: str, rate: str) -> Window | None:
    """The Redis counter ``hit`` counts ``key`` on; None without Redis or when ``rate`` does not parse."""
    if not settings.REDIS_URL:
        return None
    return _window(settings.REDIS_URL, scope, key, rate)


# Asked for on every inbound event, always the same for a URL: kept for the busiest ones.
@functools.lru_cache(maxsize=4096)
def _window(redis_url: str, scope: str, key: str, rate: str) -> Window | None:
    item = _item(rate)
    if item is None:
        return None
    storage = _limiter(redis_url).storage
    return Window(storage.prefixed_key(item.key_for(scope, key)), item.amount, item.get_expiry())


def hit(*, scope: str, key: str, rate: str) -> Verdict | None:
    """Counts one request of ``key`` under ``rate``. None (let it through) when the counter is down."""
    item = _item(rate)
    if item is None:
        return None
    limiter = _limiter(settings.REDIS_URL)
    try:
        allowed = limiter.hit(item, scope, key)
        if allowed:
            return Verdict(limited=False, retry_after=0)
        reset_at, _ = limiter.get_window_stats(item, scope, key)
    except Exception:  # noqa: BLE001 - a broken counter must not take the endpoint down with it
        logger.warning("rate limit counter unavailable", exc_info=True)
        return None
    return Verdict(limited=True, retry_after=max(1, int(reset_at - time.time())))


def reset() -> None:
    """Forgets every counter (for tests)."""
    for limiter in (_limiter(settings.REDIS_URL),):
        limiter.storage.reset()
