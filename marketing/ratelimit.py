"""Rate limits for inbound URLs, with the ``limits`` library.

With REDIS_URL the counters live in Redis (one round trip a hit, through limits' Lua script) and
are shared by every process; without it, in this process's memory, which suits development.
Rates read like "60/minute" or "1000 per hour".
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


def hit(*, scope: str, key: str, rate: str) -> Verdict | None:
    """Counts one request of ``key`` under ``rate``. None (let it through) when the counter is down."""
    try:
        item = parse(rate)
    except (ValueError, ConfigurationError):
        logger.error("not a rate like 60/minute", extra={"rate": rate})
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
