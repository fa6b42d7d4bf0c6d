"""Each pytest-xdist worker gets Redis databases and a var/ folder of its own, so that
``make test ARGS="-n 2"`` runs the suite in parallel: tests clear the cache and drain queues,
streams and rate limits as they go, and workers sharing them cleared each other's.

``tests/run.py`` loads it with ``-p``, so that it runs before pytest-django reads the settings
(a conftest would be too late); xdist hands the option on to the workers, where the checkout is
on ``sys.path``. A bare ``pytest -n 2`` goes without it, and tests/conftest.py refuses to run so.
Worker N moves REDIS_URL and CACHE_REDIS_URL up by 2 x N databases and, from the second on,
VAR_DIR to var/xdist/gwN; PostgreSQL needs nothing, pytest-django gives each worker its own
test database.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

import pytest

# Redis's default `databases` setting.
REDIS_DATABASES = 16
BASE_DIR = Path(__file__).resolve().parent.parent


def _database(url: str) -> int:
    return int(urlsplit(url).path.strip("/") or 0)


def _with_database(url: str, database: int) -> str:
    return urlsplit(url)._replace(path=f"/{database}").geturl()


def worker_environ(environ: dict[str, str]) -> dict[str, str]:
    """The variables to set for this process: none outside an xdist worker; in the first, the
    Redis URLs as they are (the cache's written out); in the others, the moved ones and VAR_DIR."""
    worker = environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return {}
    index, count = int(worker.removeprefix("gw")), int(environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    changes = {}
    if redis_url := environ.get("REDIS_URL"):
        # What the settings derive when CACHE_REDIS_URL is not set (marketing/settings.py).
        cache_url = environ.get("CACHE_REDIS_URL") or _with_database(redis_url, 1)
        bases = (_database(redis_url), _database(cache_url))
        taken = [base + 2 * n for n in range(count) for base in bases]
        if max(taken) >= REDIS_DATABASES or len(set(taken)) < len(taken):
            raise pytest.UsageError(
                f"{count} test workers need Redis databases {sorted(taken)} apart from each other "
                f"(REDIS_URL on {bases[0]}, the cache on {bases[1]}; Redis has {REDIS_DATABASES}): use fewer workers"
            )
        changes["REDIS_URL"] = _with_database(redis_url, bases[0] + 2 * index)
        changes["CACHE_REDIS_URL"] = _with_database(cache_url, bases[1] + 2 * index)
    if index:
        var_dir = Path(environ.get("VAR_DIR") or BASE_DIR / "var") / "xdist" / worker
        for folder in ("celery/queue", "celery/processed", "celery/control"):
            (var_dir / folder).mkdir(parents=True, exist_ok=True)
        changes["VAR_DIR"] = str(var_dir)
    return changes


_refused: pytest.UsageError | None = None
try:
    os.environ.update(worker_environ(dict(os.environ)))
except pytest.UsageError as error:
    _refused = error


def pytest_configure(config: pytest.Config) -> None:
    if _refused is not None:
        raise _refused
