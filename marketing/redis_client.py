"""The project's one redis-py client per Redis URL, for what talks to Redis directly.

Short timeouts and one immediate retry (redis-py's default backs off for seconds), so that a
slow or missing Redis cannot stall the requests and calls that use it; bytes in and out (no
decode_responses), as pybreaker's storage expects.
"""

import functools
import os
import threading

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

_OPTIONS = {"socket_timeout": 1.0, "socket_connect_timeout": 1.0}
_local = threading.local()


def _forget_thread_clients() -> None:
    # A forked child must not share its parent's sockets.
    global _local
    _local = threading.local()


os.register_at_fork(after_in_child=_forget_thread_clients)


@functools.cache
def client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, retry=Retry(NoBackoff(), 1), **_OPTIONS)


def thread_client(url: str) -> redis.Redis:
    """A client of the calling thread's own, on one connection it keeps, for code that sends a
    command on every request: redis-py's pool checks a connection out and back in around each
    command of ``client``, a third of a short command's CPU. Made anew in a forked process;
    raises redis.RedisError when Redis cannot be reached."""
    clients = _local.__dict__.setdefault("clients", {})
    found = clients.get(url)
    if found is None:
        found = clients[url] = redis.Redis.from_url(
            url, retry=Retry(NoBackoff(), 1), single_connection_client=True, **_OPTIONS
        )
    return found
