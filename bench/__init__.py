"""Benchmarks for ``make bench``: pages measured against a bare signed-in view, in a throwaway database.

A benchmark is a module listed in ``bench.run.BENCHMARKS`` with a ``run(*, requests: int) -> Result``
function. It creates its own data, times its page with the helpers here and returns its metrics;
the runner prints them, the ``bench:`` lines last. Nothing here needs the app registry at import
time, so the runner can import it before ``django.setup()``.
"""

import math
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from django.http import HttpRequest, HttpResponse

BARE_PATH = "/__bench/bare/"
LAYOUT_PATH = "/__bench/layout/"


@dataclass(frozen=True)
class Metric:
    """One number with a bound (``op`` is "<=" or ">="); its ``bench:`` line is what other tools read."""

    name: str
    value: float
    unit: str
    target: float
    decimals: int = 1
    op: str = "<="

    @property
    def met(self) -> bool:
        return self.value <= self.target if self.op == "<=" else self.value >= self.target

    def shown(self) -> str:
        """The value at ``decimals``, rounded toward the failing side when plain rounding would
        make a missed target read as met (0.6996 against >= 0.7 shows 0.69, not 0.70)."""
        text = f"{self.value:.{self.decimals}f}"
        if self.met or not Metric(self.name, float(text), self.unit, self.target, self.decimals, self.op).met:
            return text
        scale = 10**self.decimals
        edge = math.floor(self.value * scale) if self.op == ">=" else math.ceil(self.value * scale)
        return f"{edge / scale:.{self.decimals}f}"

    def line(self) -> str:
        return f"bench: {self.name} {self.shown()} {self.unit} (target: {self.op} {self.target:g})"


@dataclass
class Result:
    """What a benchmark hands back to the runner: its metrics, in the order they are printed."""

    metrics: list[Metric] = field(default_factory=list)

    def say(self, line: str = "") -> None:
        # Printed as the benchmark goes, so a slow or crashing run still shows how far it got.
        print(line, flush=True)


@dataclass(frozen=True)
class Timings:
    samples_ms: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.samples_ms)

    @property
    def p90(self) -> float:
        return statistics.quantiles(self.samples_ms, n=10, method="inclusive")[-1]

    def summary(self) -> str:
        return f"median {self.median:7.2f} ms   p90 {self.p90:7.2f} ms   ({len(self.samples_ms)} requests)"


def bench_urlconf(root_urlconf: str) -> ModuleType:
    """The project's URLconf plus two baselines at ``BARE_PATH`` and ``LAYOUT_PATH``.

    The bare view is signed in and goes through every middleware, and does nothing else. The
    layout view renders ``base.html`` with an empty content block: what any page of the app costs
    before it does any work of its own.

    Django accepts a module object as ``ROOT_URLCONF``; building it here rather than in a
    ``urls.py`` keeps the project's URLconf from being imported before ``django.setup()``.
    """
    from django.shortcuts import render
    from django.urls import include, path
    from django.views.decorators.http import require_GET

    from marketing.web import workspace_required

    # The same decorators as the measured views, so the bare view differs from them only by its work.
    @workspace_required
    @require_GET
    def bare(request: HttpRequest) -> HttpResponse:
        return HttpResponse("ok")

    @workspace_required
    @require_GET
    def layout(request: HttpRequest) -> HttpResponse:
        return render(request, "base.html")

    urls = ModuleType("bench.urls")
    urls.urlpatterns = [
        path(BARE_PATH.lstrip("/"), bare, name="bench_bare"),
        path(LAYOUT_PATH.lstrip("/"), layout, name="bench_layout"),
        path("", include(root_urlconf)),
    ]
    return urls


def get_ok(client, path: str) -> HttpResponse:
    # Over HTTPS, as in production: with DEBUG off, SECURE_SSL_REDIRECT would answer plain HTTP with a 301.
    response = client.get(path, secure=True)
    if response.status_code != 200:
        raise AssertionError(f"GET {path} answered {response.status_code}, not 200")
    return response


def count_queries(client, path: str) -> int:
    """The number of queries one request to ``path`` makes."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        get_ok(client, path)
    return len(captured)


def time_interleaved(client, paths: list[str], *, warmup: int = 5, requests: int = 50) -> dict[str, Timings]:
    """Times ``requests`` GETs of each path, taking turns, so that drift hits every path alike."""
    for _ in range(warmup):
        for path in paths:
            get_ok(client, path)
    samples: dict[str, list[float]] = {path: [] for path in paths}
    for _ in range(requests):
        for path in paths:
            started = time.perf_counter()
            get_ok(client, path)
            samples[path].append((time.perf_counter() - started) * 1000)
    return {path: Timings(values) for path, values in samples.items()}


def settle_database() -> None:
    """On PostgreSQL, vacuums and analyzes after a bulk load, as autovacuum soon would in production.

    Without planner statistics a freshly filled table gets plans no long-lived database gets.
    SQLite is left as Django leaves it, without statistics.
    """
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")


@contextmanager
def frozen_timestamps(model, *names: str) -> Iterator[None]:
    """Lets ``bulk_create`` keep the given ``auto_now``/``auto_now_add`` values instead of now()."""
    fields = [model._meta.get_field(name) for name in names]
    saved = [(f.auto_now, f.auto_now_add) for f in fields]
    for f in fields:
        f.auto_now = f.auto_now_add = False
    try:
        yield
    finally:
        for f, (auto_now, auto_now_add) in zip(fields, saved):
            f.auto_now, f.auto_now_add = auto_now, auto_now_add


@dataclass(frozen=True)
class OwnQueue:
    name: str
    folder: Path | None  # the filesystem broker's folder, None with Redis

    def depth(self, app) -> int:
        """The messages waiting in the queue."""
        if self.folder is not None:
            return sum(1 for _ in self.folder.glob("*.msg"))
        with app.connection_for_write() as connection:
            return connection.default_channel.client.llen(self.name)


def reset_broker_pools(app) -> None:
    """Makes Celery connect and route afresh: after a change of its broker or routing settings,
    and before forking, so that no process shares a connection."""
    import kombu.pools

    # app._pool is kombu's process-wide pool for the broker URL; kombu keeps handing out a pool
    # once closed, so its registries are emptied too.
    app._pool = None
    kombu.pools.reset()
    # The producer pool holds on to the connection pool just closed.
    app.amqp._producer_pool = None
    # Celery reads task_routes once into a router it keeps: a change of queue needs a new one.
    app.amqp.flush_routes()
    vars(app.amqp).pop("router", None)


@contextmanager
def own_queue(app, tasks: str, prefix: str) -> Iterator[OwnQueue]:
    """Tasks whose names match ``tasks`` (a name or a glob) are published for real, to a queue of
    the run's own that no worker reads and that is deleted at the end: the developer's queues stay
    clean. With Redis the configured broker is used; without, a filesystem broker in a temporary folder."""
    from django.conf import settings

    name = f"{prefix}-{os.getpid()}"
    saved = {key: app.conf[key] for key in ("task_routes", "task_always_eager", "broker_transport_options")}
    with tempfile.TemporaryDirectory(prefix="bench-broker-") as broker_dir:
        folder = None if settings.REDIS_URL else Path(broker_dir)
        app.conf.task_always_eager = False
        app.conf.task_routes = {tasks: {"queue": name}}
        if folder is not None:
            app.conf.broker_transport_options = {
                "data_folder_in": broker_dir, "data_folder_out": broker_dir, "control_folder": broker_dir,
            }  # fmt: skip
        reset_broker_pools(app)
        try:
            yield OwnQueue(name, folder)
        finally:
            if folder is None:
                with app.connection_for_write() as connection:
                    # Celery's own queue (its exchange and binding), declared on this channel
                    # first: kombu deletes only the bindings it knows of, and the list with them.
                    queue = app.amqp.queues[name].bind(connection.default_channel)
                    queue.declare()
                    queue.delete()
            for key, value in saved.items():
                app.conf[key] = value
            reset_broker_pools(app)
