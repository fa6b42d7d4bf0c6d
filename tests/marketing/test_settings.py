import os
import subprocess
import sys

import pytest

from django.conf import settings


def _load_settings(**env) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "ALLOWED_HOSTS", "DEBUG"}}
    environment.update(env)
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env=environment,
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_it_refuses_to_start_in_production_without_a_secret_key():
    result = _load_settings(DEBUG="0", ALLOWED_HOSTS="example.com")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_it_refuses_to_start_in_production_without_allowed_hosts():
    result = _load_settings(DEBUG="0", SECRET_KEY="x" * 60)
    assert result.returncode != 0
    assert "ALLOWED_HOSTS must be set" in result.stderr


def test_it_starts_in_production_with_both_set():
    result = _load_settings(DEBUG="0", SECRET_KEY="x" * 60, ALLOWED_HOSTS="example.com")
    assert result.returncode == 0, result.stderr


def test_the_redis_cache_reuses_one_client(settings):
    from django.core.cache import caches

    if not settings.REDIS_URL:
        pytest.skip("needs REDIS_URL")
    cache = caches["default"]
    assert cache._cache.get_client(write=True) is cache._cache.get_client(write=True)
    cache.set("reuse-check", 1, 5)
    assert cache.get("reuse-check") == 1


def test_api_tokens_are_a_tab_of_the_settings_page(alice_client):
    page = alice_client.get("/workspace/settings/").content.decode()
    assert '<a class="btn btn-sm" href="/workspace/api-tokens/"' in page
    tokens = alice_client.get("/workspace/api-tokens/").content.decode()
    assert 'href="/workspace/settings/" aria-current="page">Settings</a>' in tokens


def test_the_time_zone_picker_is_searchable_and_refuses_a_made_up_zone(alice_client):
    page = alice_client.get("/account/").content.decode()
    assert 'list="id_timezone_zones"' in page
    assert '<option value="Europe/Berlin">' in page
    response = alice_client.post("/account/", {"name": "Alice", "timezone": "Mars/Olympus"})
    assert "Choose a zone from the list" in response.content.decode()
