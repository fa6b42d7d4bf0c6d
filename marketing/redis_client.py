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
from redis.commands.core import Script
from redis.exceptions import NoScriptError
from redis.retry import Retry

try:
    # What redis-py's packer calls in the end, after reshaping arguments a script's never need (7 -> 2 us).
    from hiredis import pack_command as _pack
except ImportError:  # pragma: no cover - hiredis is in requirements.txt
    _pack = None

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


def run_script(client: redis.Redis, script: Script, *, keys: list, args: list):
    """``script(keys=keys, args=args, client=client)`` for a ``thread_client``, sent straight on
    its connection: redis-py's command machinery around one EVALSHA (its lock, observability
    hooks and reply callbacks, none of which a script's reply needs) costs as much CPU as the
    round trip itself. Errors are redis-py's own: the connection retries once after dropping
    the socket, as ``client`` would, and a server that lost the script gets it loaded again."""
    connection = client.connection
    if connection is None:  # A pooled client: its own way.
        return script(keys=keys, args=args, client=client)
    command = [_pack(("EVALSHA", script.sha, len(keys), *keys, *args))] if _pack else connection.pack_command(
        "EVALSHA", script.sha, len(keys), *keys, *args
    )

    def send():
        connection.send_packed_command(command)
        return connection.read_response()

    try:
        return connection.retry.call_with_retry(send, lambda error: connection.disconnect())
    except NoScriptError:
        return script(keys=keys, args=args, client=client)
