"""Parallel test workers get Redis databases and a var/ folder of their own (tests/xdist_isolation.py)."""

import pytest

from tests.xdist_isolation import worker_environ


def _worker(index: int, count: int, tmp_path, **environ) -> dict[str, str]:
    return {"PYTEST_XDIST_WORKER": f"gw{index}", "PYTEST_XDIST_WORKER_COUNT": str(count), "VAR_DIR": str(tmp_path), **environ}


def test_it_changes_nothing_outside_a_worker():
    assert worker_environ({"REDIS_URL": "redis://127.0.0.1:6379/8"}) == {}


def test_it_gives_each_worker_the_next_two_redis_databases(tmp_path):
    urls = {"REDIS_URL": "redis://127.0.0.1:6379/8", "CACHE_REDIS_URL": "redis://127.0.0.1:6379/9"}
    first = worker_environ(_worker(0, 4, tmp_path, **urls))
    last = worker_environ(_worker(3, 4, tmp_path, **urls))
    assert first == urls
    assert last["REDIS_URL"] == "redis://127.0.0.1:6379/14"
    assert last["CACHE_REDIS_URL"] == "redis://127.0.0.1:6379/15"


def test_it_moves_the_cache_the_settings_would_derive(tmp_path):
    # CI sets only REDIS_URL: the settings put the cache on database 1.
    changed = worker_environ(_worker(1, 2, tmp_path, REDIS_URL="redis://127.0.0.1:6379/0"))
    assert changed["REDIS_URL"] == "redis://127.0.0.1:6379/2"
    assert changed["CACHE_REDIS_URL"] == "redis://127.0.0.1:6379/3"


def test_it_gives_later_workers_a_var_folder_of_their_own_with_the_broker_folders(tmp_path):
    assert "VAR_DIR" not in worker_environ(_worker(0, 2, tmp_path))
    var_dir = tmp_path / "xdist" / "gw1"
    assert worker_environ(_worker(1, 2, tmp_path)) == {"VAR_DIR": str(var_dir)}
    assert all((var_dir / "celery" / folder).is_dir() for folder in ("queue", "processed", "control"))


@pytest.mark.parametrize(
    ("urls", "count"),
    [
        ({"REDIS_URL": "redis://127.0.0.1:6379/8", "CACHE_REDIS_URL": "redis://127.0.0.1:6379/9"}, 5),
        # Two workers' databases would be the same ones.
        ({"REDIS_URL": "redis://127.0.0.1:6379/4", "CACHE_REDIS_URL": "redis://127.0.0.1:6379/6"}, 2),
    ],
)
def test_it_refuses_workers_that_would_share_or_lack_a_database(tmp_path, urls, count):
    with pytest.raises(pytest.UsageError, match="use fewer workers"):
        worker_environ(_worker(0, count, tmp_path, **urls))
