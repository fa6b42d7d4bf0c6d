"""The project's one redis-py client per Redis URL, for what talks to Redis directly.

Short timeouts and one immediate retry (redis-py's default backs off for seconds), so that a
slow or missing Redis cannot stall the requests and calls that use it; bytes in and out (no
decode_responses), as pybreaker's storage expects.
"""

import functools

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry


@functools.cache
def client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0, retry=Retry(NoBackoff(), 1))
