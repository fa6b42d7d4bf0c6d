"""The thread's own Redis client: one connection per thread, kept across commands."""

import threading

import pytest
from django.conf import settings as django_settings

from marketing import redis_client

needs_redis = pytest.mark.skipif(not django_settings.REDIS_URL, reason="needs Redis (REDIS_URL)")


@needs_redis
def test_it_keeps_one_connection_per_thread(settings):
    first = redis_client.thread_client(settings.REDIS_URL)
    assert first.ping() and redis_client.thread_client(settings.REDIS_URL) is first
    connection = first.connection

    first.ping()

    assert first.connection is connection


@needs_redis
def test_it_gives_another_thread_a_client_of_its_own(settings):
    other = []
    thread = threading.Thread(target=lambda: other.append(redis_client.thread_client(settings.REDIS_URL)))
    thread.start()
    thread.join()

    assert other[0] is not redis_client.thread_client(settings.REDIS_URL)


@needs_redis
def test_it_makes_a_new_client_in_a_forked_process(settings):
    import os

    parent = redis_client.thread_client(settings.REDIS_URL)
    parent.ping()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # The child reports whether it got a client of its own that works, and leaves.
        try:
            child = redis_client.thread_client(settings.REDIS_URL)
            ok = child is not parent and child.connection is not parent.connection and child.ping()
        except BaseException:
            ok = False
        os.write(write, b"1" if ok else b"0")
        os._exit(0)
    os.close(write)
    answer = os.read(read, 1)
    os.waitpid(pid, 0)

    assert answer == b"1"
    assert parent.ping()


# Scripts sent straight on the thread's connection -----------------------------------------------

ECHO = "redis.call('incr', KEYS[1]) return {ARGV[1], redis.call('get', KEYS[1])}"


def _script(client, body: str = ECHO):
    from redis.commands.core import Script

    return Script(client, body)


@needs_redis
def test_it_runs_a_script_and_answers_as_redis_py_does(settings):
    import uuid

    client = redis_client.thread_client(settings.REDIS_URL)
    key = f"test-run-script:{uuid.uuid4().hex}"
    script = _script(client)
    script(keys=[key], args=["first"], client=client)  # Registered, and counted once.
    try:
        assert redis_client.run_script(client, script, keys=[key], args=["second"]) == [b"second", b"2"]
    finally:
        client.delete(key)


@needs_redis
def test_it_loads_a_script_the_server_does_not_know(settings):
    import uuid

    client = redis_client.thread_client(settings.REDIS_URL)
    marker = uuid.uuid4().hex  # A script no one has loaded yet.
    script = _script(client, f"return '{marker}'")

    assert redis_client.run_script(client, script, keys=[], args=[]) == marker.encode()


@needs_redis
def test_it_sends_a_script_again_on_a_new_connection_when_redis_dropped_the_old_one(settings):
    import uuid

    client = redis_client.thread_client(settings.REDIS_URL)
    key = f"test-run-script:{uuid.uuid4().hex}"
    script = _script(client)
    client.script_load(ECHO)
    redis_client.client(settings.REDIS_URL).client_kill_filter(_id=client.client_id())
    try:
        assert redis_client.run_script(client, script, keys=[key], args=["again"]) == [b"again", b"1"]
        assert client.ping()
    finally:
        client.delete(key)


def test_it_raises_redis_errors_when_redis_does_not_answer():
    import redis

    client = redis.Redis.from_url("redis://127.0.0.1:9/0", single_connection_client=False, socket_connect_timeout=0.5)
    with pytest.raises(redis.ConnectionError):
        redis_client.run_script(client, _script(client), keys=["k"], args=["v"])


def test_it_packs_a_script_call_as_redis_py_does():
    import redis

    connection = redis.Redis(single_connection_client=False).connection_pool.make_connection()
    args = ("EVALSHA", "a" * 40, 2, "stream", "LIMITER/x", 60, 10**9, "naïve ☃ {\"a\":\"é\"}", b"bytes", "")
    assert redis_client._pack is not None
    assert [redis_client._pack(args)] == connection.pack_command(*args)
