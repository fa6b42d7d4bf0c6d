"""Django's Redis cache backend, keeping one redis-py client per connection pool, and failing open.

Django builds a new ``redis.Redis`` for every cache operation; with redis-py 8 that sets up some
two hundred response callbacks each time, the largest single cost of a cached lookup on the
hot paths (trigger events, rate limits). A client is safe to share between
threads: it takes a connection from its pool for each command.

While Redis cannot be reached, every operation behaves as a miss (reads find nothing, writes keep
nothing) and says so in a log line, at most once per ``LOG_EVERY`` seconds: what uses the cache
(API throttles, login and password-reset rate limits, cached lookups) then fails open instead of
answering 500.
"""

import functools
import logging
import time

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)
LOG_EVERY = 10.0
_last_logged = 0.0


def _fail_open(default):
    """Makes a cache operation answer ``default`` (a value, or a callable of the call's arguments) on a Redis error."""

    def decorate(method):
        @functools.wraps(method)
        def wrapper(self, *args, **kwargs):
            try:
                return method(self, *args, **kwargs)
            except RedisError as error:
                global _last_logged
                now = time.monotonic()
                if now - _last_logged >= LOG_EVERY:
                    _last_logged = now
                    logger.warning("cache unavailable: %s answers as a miss (%s)", method.__name__, error)
                return default(*args, **kwargs) if callable(default) else default

        return wrapper

    return decorate


class SharedClientRedisCacheClient(RedisCacheClient):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, object] = {}

    def get_client(self, key=None, *, write=False):
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            client = self._clients[index] = self._client(connection_pool=self._get_connection_pool(write))
        return client

    # Fail-open versions of every operation Django's cache API reaches.
    add = _fail_open(True)(RedisCacheClient.add)
    get = _fail_open(lambda key, default: default)(RedisCacheClient.get)
    set = _fail_open(None)(RedisCacheClient.set)
    touch = _fail_open(False)(RedisCacheClient.touch)
    delete = _fail_open(False)(RedisCacheClient.delete)
    get_many = _fail_open({})(RedisCacheClient.get_many)
    has_key = _fail_open(False)(RedisCacheClient.has_key)
    incr = _fail_open(lambda key, delta: delta)(RedisCacheClient.incr)
    set_many = _fail_open([])(RedisCacheClient.set_many)
    delete_many = _fail_open(None)(RedisCacheClient.delete_many)
    clear = _fail_open(False)(RedisCacheClient.clear)


class RedisCache(DjangoRedisCache):
    def __init__(self, server, params) -> None:
        super().__init__(server, params)
        self._class = SharedClientRedisCacheClient
