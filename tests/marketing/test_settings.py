import os
import subprocess
import sys

import pytest

from django.conf import settings


PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": "x" * 60,
    "ALLOWED_HOSTS": "example.com",
    "PUBLIC_BASE_URL": "https://example.com",
    "FIELD_ENCRYPTION_KEYS": "bVFtU2VjcmV0S2V5Rm9yVGVzdHNPbmx5MDEyMzQ1Njc=",
}


def _load_settings(**env) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in PRODUCTION}
    environment.update({k: v for k, v in env.items() if v is not None})
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)"],
        env=environment,
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("missing", ["SECRET_KEY", "ALLOWED_HOSTS", "PUBLIC_BASE_URL", "FIELD_ENCRYPTION_KEYS"])
def test_it_refuses_to_start_in_production_without(missing):
    result = _load_settings(**{**PRODUCTION, missing: None})
    assert result.returncode != 0
    assert f"{missing} must be set when DEBUG is off" in result.stderr


def test_it_starts_in_production_with_everything_set():
    result = _load_settings(**PRODUCTION)
    assert result.returncode == 0, result.stderr


def test_debug_is_off_unless_set():
    result = _load_settings(**{**PRODUCTION, "DEBUG": None})
    assert result.stdout.strip() == "False", result.stderr


def test_loading_the_settings_creates_no_folder(tmp_path):
    import shutil

    copy = tmp_path / "project"
    shutil.copytree(settings.BASE_DIR / "marketing", copy / "marketing", ignore=shutil.ignore_patterns("__pycache__"))
    before = sorted(path.name for path in copy.iterdir())
    result = subprocess.run(
        [sys.executable, "-c", "import marketing.settings"],
        env={**os.environ, "DEBUG": "1", "PYTHONPATH": str(copy)},
        cwd=copy,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert sorted(path.name for path in copy.iterdir()) == before


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
