"""The cache as event intake uses it: the token lookup, in its own key space, as JSON.

Values are JSON rather than pickles so a cache entry can never run code. ``Unavailable`` lists
the errors of a cache that is down; callers then carry on without it.
"""

import json

import redis
from django.core.cache import cache

Unavailable = (redis.RedisError, OSError)


def _key(key: str) -> str:
    return f"triggers:{key}"


def get(key: str):
    """The value stored under ``key``, or None."""
    raw = cache.get(_key(key))
    return None if raw is None else json.loads(raw)


def set(key: str, value, timeout: int) -> None:  # noqa: A001 - mirrors the cache API
    cache.set(_key(key), json.dumps(value), timeout)


def delete_many(keys: list[str]) -> None:
    if keys:
        cache.delete_many([_key(key) for key in keys])
