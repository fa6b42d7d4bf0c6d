"""`make test` picks PostgreSQL and Redis when they answer and nothing else was asked for (tests/run.py)."""

from tests import run


def _reachable(monkeypatch, postgres: bool, redis: bool) -> None:
    monkeypatch.setattr(run, "_postgres", lambda: run.POSTGRES_URL if postgres else None)
    monkeypatch.setattr(run, "_redis", lambda: run.REDIS_URL if redis else None)


def test_it_uses_postgresql_and_redis_when_they_answer(monkeypatch):
    _reachable(monkeypatch, postgres=True, redis=True)
    chosen = run.choose({})
    assert chosen == {
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/marketing_test_default",
        "REDIS_URL": "redis://127.0.0.1:6379/8",
        "CACHE_REDIS_URL": "redis://127.0.0.1:6379/9",
    }
    assert "skip" not in run.describe(chosen)


def test_it_falls_back_to_sqlite_and_says_so(monkeypatch):
    _reachable(monkeypatch, postgres=False, redis=False)
    chosen = run.choose({})
    assert chosen == {}
    assert "SQLite" in run.describe(chosen) and "Redis-only tests skip" in run.describe(chosen)


def test_it_keeps_what_the_environment_set_even_empty(monkeypatch):
    _reachable(monkeypatch, postgres=True, redis=True)
    assert run.choose({"DATABASE_URL": "", "REDIS_URL": ""}) == {}
    assert run.choose({"DATABASE_URL": "postgres://elsewhere/db"}) == {
        "REDIS_URL": run.REDIS_URL,
        "CACHE_REDIS_URL": run.CACHE_REDIS_URL,
    }


def test_it_finds_no_redis_on_a_port_where_nothing_listens(monkeypatch):
    monkeypatch.setattr(run, "REDIS_URL", "redis://127.0.0.1:1/0")
    assert run._redis() is None
