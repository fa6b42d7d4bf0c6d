"""The thread's own Redis client: one connection per thread, kept across commands."""

import threading

import pytest
import redis
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


def test_it_makes_a_new_client_in_a_forked_process(settings, monkeypatch):
    url = "redis://127.0.0.1:9/0"
    monkeypatch.setattr(redis.Redis, "from_url", classmethod(lambda cls, *args, **kwargs: object()))
    parent = redis_client.thread_client(url)
    monkeypatch.setattr(redis_client.os, "getpid", lambda: -1)

    assert redis_client.thread_client(url) is not parent
