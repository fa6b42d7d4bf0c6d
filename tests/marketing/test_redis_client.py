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
