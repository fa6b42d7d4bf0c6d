"""Runs the benchmarks in a throwaway database: ``python -m bench.run [name ...] [--requests N]``.

The database is the one ``DATABASE_URL`` names (SQLite when unset), but the run creates its own
test database next to it, the way the test runner does, and drops it at the end, also on failure.
Each benchmark prints human-readable lines, then one ``bench:`` line per metric. A missed target
is reported, not fatal: the exit code is 1 only when a benchmark crashed.
"""

import argparse
import importlib
import logging
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager

import django

# name -> module with run(*, requests: int) -> bench.Result
BENCHMARKS = {
    "campaign_list": "bench.campaign_list",
    "schedule_dispatch": "bench.schedule_dispatch",
    "execution_publish": "bench.execution_publish",
    "triggers_ingest": "bench.triggers_ingest",
    "triggers_eval": "bench.triggers_eval",
    "monitoring_overhead": "bench.monitoring_overhead",
    "monitoring_storm": "bench.monitoring_storm",
    "monitoring_workspace": "bench.monitoring_workspace",
    "cms_poll": "bench.cms_poll",
    "billing_limits": "bench.billing_limits",
    "billing_webhook": "bench.billing_webhook",
}


@contextmanager
def throwaway_database() -> Iterator[None]:
    """A freshly migrated test database in place of the configured one, dropped on the way out."""
    from django.db import connection
    from django.template import Template
    from django.test.utils import setup_test_environment, teardown_test_environment

    render = Template._render
    setup_test_environment()
    # The test environment makes every template render send a signal, on which the test client
    # copies the context: real work that no production request does, so it is switched back off.
    Template._render = render
    if connection.vendor != "sqlite":
        # Our own name, so a test run going on at the same time keeps its test_<name> database.
        connection.settings_dict["TEST"]["NAME"] = f"bench_{connection.settings_dict['NAME']}_{os.getpid()}"
    real_name = connection.settings_dict["NAME"]
    try:
        connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False, keepdb=False)
        yield
    finally:
        # destroy_test_db drops whatever the connection points at: never the real database.
        if connection.settings_dict["NAME"] != real_name:
            connection.creation.destroy_test_db(real_name, verbosity=0, keepdb=False)
        teardown_test_environment()


@contextmanager
def bench_settings() -> Iterator[None]:
    """Settings for the run: fast hashing, media and cache of its own, the bare view's URLconf."""
    from django.conf import settings
    from django.test import override_settings
    from django.urls import clear_url_caches

    from bench import bench_urlconf

    with tempfile.TemporaryDirectory(prefix="bench-media-") as media_root:
        overrides = override_settings(
            PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
            MEDIA_ROOT=media_root,
            # The developer's cache stays untouched.
            CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}},
            # The manifest storage used with DEBUG off needs collectstatic; the pages' cost is the same.
            STORAGES={**settings.STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}},
            ROOT_URLCONF=bench_urlconf(settings.ROOT_URLCONF),
            # dj-stripe's own migrations take over a minute; the tests' one builds the same tables.
            MIGRATION_MODULES={**settings.MIGRATION_MODULES, "djstripe": "tests.djstripe_migrations"},
        )
        with overrides:
            clear_url_caches()
            try:
                yield
            finally:
                clear_url_caches()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="name", help=f"one of {', '.join(BENCHMARKS)}; all when none")
    parser.add_argument("--requests", type=int, default=100, help="timed requests per measured page (default 100)")
    args = parser.parse_args(argv)
    if args.requests < 2:
        parser.error("--requests needs at least 2, for a median and a p90")
    unknown = [name for name in args.names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"no benchmark named {', '.join(unknown)}; there are {', '.join(BENCHMARKS)}")

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketing.settings")
    django.setup()
    from django.db import connection

    from bench import host

    # One JSON log line per request would bury the report; dropping it saves both views the same work.
    logging.disable(logging.INFO)
    crashed = []
    started = time.perf_counter()
    with bench_settings(), throwaway_database():
        print(f"Database: {connection.vendor} ({connection.settings_dict['NAME']}, throwaway)", flush=True)
        print(host.measure().line(), flush=True)
        for name in args.names or BENCHMARKS:
            print(f"\n== {name}", flush=True)
            try:
                result = importlib.import_module(BENCHMARKS[name]).run(requests=args.requests)
            except Exception:
                traceback.print_exc()
                print(f"{name}: CRASHED", flush=True)
                crashed.append(name)
                continue
            for metric in result.metrics:
                if not metric.met:
                    print(f"{name}: MISSED {metric.line().removeprefix('bench: ')}")
            for metric in result.metrics:
                print(metric.line(), flush=True)
        # Counts monitoring recorded about the run itself must not reach the real database later.
        from monitoring import recorder

        recorder.reset()
    print(f"\n({time.perf_counter() - started:.0f} s in all)", file=sys.stderr)
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
