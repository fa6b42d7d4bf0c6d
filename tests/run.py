"""`make test`: the suite against PostgreSQL and Redis when they answer at their standard local
addresses, otherwise against SQLite and the filesystem broker; it says which, then runs pytest.

Only on PostgreSQL and Redis do the concurrency tests run (dispatch, one publish under concurrent
requests, the event buffer): README, "Which tests run where". A ``DATABASE_URL`` or ``REDIS_URL``
already in the environment is kept as it is, an empty one included (``DATABASE_URL= REDIS_URL=
make test`` runs on SQLite with PostgreSQL and Redis up). Arguments go to pytest.
"""

from __future__ import annotations

import os
import sys

# A database of its own: pytest-django creates test_<name> next to it, never touching `marketing`.
POSTGRES_DATABASE = "marketing_test_default"
POSTGRES_URL = f"postgres://postgres@127.0.0.1:5432/{POSTGRES_DATABASE}"
# Databases 0 and 1 are the application's defaults; the cache database is flushed by every test.
# Parallel workers (-n) take the next ones two by two (tests/xdist_isolation.py): up to -n 4.
REDIS_URL = "redis://127.0.0.1:6379/8"
CACHE_REDIS_URL = "redis://127.0.0.1:6379/9"


def _postgres() -> str | None:
    """POSTGRES_URL, its database created if missing; None with the reason printed when unreachable."""
    import psycopg
    from psycopg import errors, sql

    try:
        with psycopg.connect(
            host="127.0.0.1", port=5432, user="postgres", dbname="postgres", connect_timeout=2, autocommit=True
        ) as connection:
            exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [POSTGRES_DATABASE]).fetchone()
            if not exists:
                try:
                    connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(POSTGRES_DATABASE)))
                except errors.DuplicateDatabase:
                    pass  # another run created it meanwhile
    except psycopg.Error as error:
        print(f"make test: no PostgreSQL at 127.0.0.1:5432 as postgres ({str(error).strip()})", file=sys.stderr)
        return None
    return POSTGRES_URL


def _redis() -> str | None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5, socket_timeout=0.5).ping()
    except redis.RedisError as error:
        print(f"make test: no Redis at 127.0.0.1:6379 ({error})", file=sys.stderr)
        return None
    return REDIS_URL


def choose(environ: dict[str, str]) -> dict[str, str]:
    """The variables to add to ``environ`` for the run."""
    chosen = {}
    if "DATABASE_URL" not in environ and (url := _postgres()):
        chosen["DATABASE_URL"] = url
    if "REDIS_URL" not in environ and (url := _redis()):
        chosen["REDIS_URL"] = url
        chosen.setdefault("CACHE_REDIS_URL", environ.get("CACHE_REDIS_URL", CACHE_REDIS_URL))
    return chosen


def describe(environ: dict[str, str]) -> str:
    database = environ.get("DATABASE_URL") or "SQLite (in memory)"
    redis_url = environ.get("REDIS_URL")
    broker = f"Redis {redis_url}" if redis_url else "the filesystem broker and file cache, no Redis"
    skipped = "" if environ.get("DATABASE_URL", "").startswith("postgres") and redis_url else (
        "; the PostgreSQL- and Redis-only tests skip (README: Which tests run where)"
    )
    return f"make test: database {database}; {broker}{skipped}"


def main(argv: list[str]) -> None:
    environ = {**os.environ, **choose(os.environ)}
    print(describe(environ), file=sys.stderr, flush=True)
    # Parallel workers (-n) get Redis databases and a var/ of their own (tests/xdist_isolation.py).
    os.execve(sys.executable, [sys.executable, "-m", "pytest", "-p", "tests.xdist_isolation", *argv], environ)


if __name__ == "__main__":
    main(sys.argv[1:])
