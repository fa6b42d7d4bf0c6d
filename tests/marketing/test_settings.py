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


def test_it_names_the_missing_variable_in_one_line_from_manage_py():
    environment = {k: v for k, v in os.environ.items() if k not in PRODUCTION}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], env=environment, cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert result.stderr.startswith("manage.py: SECRET_KEY must be set when DEBUG is off"), result.stderr
    assert "Traceback" not in result.stderr


def test_it_starts_in_production_with_everything_set():
    result = _load_settings(**PRODUCTION)
    assert result.returncode == 0, result.stderr


def test_it_keeps_debug_off_unless_set():
    result = _load_settings(**{**PRODUCTION, "DEBUG": None})
    assert result.stdout.strip() == "False", result.stderr


def test_it_creates_no_folder_when_loading_the_settings(tmp_path):
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


def test_it_creates_no_metrics_folder_and_names_the_missing_one(tmp_path):
    missing = tmp_path / "var" / "prometheus"
    result = _load_settings(DEBUG="1", PROMETHEUS_MULTIPROC_DIR=str(missing))
    assert result.returncode != 0
    assert f"PROMETHEUS_MULTIPROC_DIR={missing} is not a directory" in result.stderr
    assert not (tmp_path / "var").exists()


def _project_sources():
    base = settings.BASE_DIR
    for path in sorted(base.rglob("*.py")):
        parts = path.relative_to(base).parts
        if parts[0] not in {".venv", "node_modules", "staticfiles", "var"}:
            yield path


def test_it_declares_every_setting_the_code_reads():
    import re

    import marketing.settings as declared
    from django.conf import global_settings

    read = set()
    for path in _project_sources():
        if path.parts[-2] == "migrations" or path.name == "settings.py":
            continue
        text = path.read_text()
        read |= set(re.findall(r"\bsettings\.([A-Z][A-Z0-9_]+)", text))
        read |= set(re.findall(r"getattr\(\w*settings, \"([A-Z][A-Z0-9_]+)\"", text))
    assert read, "the scan found no setting at all"
    undeclared = {name for name in read if not hasattr(declared, name) and not hasattr(global_settings, name)}
    assert not undeclared, f"read but not declared in marketing/settings.py: {sorted(undeclared)}"


def test_it_pins_every_imported_package_in_requirements():
    import ast
    import importlib.metadata
    import re

    local = {path.name for path in settings.BASE_DIR.iterdir()} | {path.stem for path in settings.BASE_DIR.glob("*.py")}
    imported = set()
    for path in _project_sources():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    third_party = {name for name in imported if name not in sys.stdlib_module_names and name not in local}
    assert {"django", "celery", "pytest"} <= third_party

    def normal(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    pinned = set()
    for line in (settings.BASE_DIR / "requirements.txt").read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-]+)(\[[^\]]*\])?==\S+", line.strip())
        if match:
            pinned.add(normal(match.group(1)))
    distributions = importlib.metadata.packages_distributions()
    unpinned = {
        name: distributions.get(name)
        for name in third_party
        if not distributions.get(name) or not any(normal(d) in pinned for d in distributions[name])
    }
    assert not unpinned, f"imported but not pinned in requirements.txt: {unpinned}"


def test_it_reuses_one_client_for_the_redis_cache(settings):
    from django.core.cache import caches

    if not settings.REDIS_URL:
        pytest.skip("needs REDIS_URL")
    cache = caches["default"]
    assert cache._cache.get_client(write=True) is cache._cache.get_client(write=True)
    cache.set("reuse-check", 1, 5)
    assert cache.get("reuse-check") == 1


def test_it_shows_api_tokens_as_a_tab_of_the_settings_page(alice_client):
    page = alice_client.get("/workspace/settings/").content.decode()
    assert '<a class="btn btn-sm" href="/workspace/api-tokens/"' in page
    tokens = alice_client.get("/workspace/api-tokens/").content.decode()
    assert 'href="/workspace/settings/" aria-current="page">Settings</a>' in tokens


def test_it_offers_a_searchable_time_zone_picker_that_refuses_a_made_up_zone(alice_client):
    page = alice_client.get("/account/").content.decode()
    assert 'list="id_timezone_zones"' in page
    assert '<option value="Europe/Berlin">' in page
    response = alice_client.post("/account/", {"name": "Alice", "timezone": "Mars/Olympus"})
    assert "Choose a zone from the list" in response.content.decode()
