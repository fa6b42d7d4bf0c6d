"""Event ingestion through gunicorn on the trigger URL, against a bare Django JSON view in the same run.

What is measured: ``POST /hooks/triggers/<token>/`` for a conditional trigger with a signing
secret whose rules do not match the event, so every request goes through the whole intake (rate
limit in Redis, token lookup, content type, size, HMAC signature, JSON parsing, rule evaluation,
the event and its decision stored) and starts no run: run execution is measured by the
scheduling benchmark, and queuing runs here would feed the developer's worker. The bare view
(``bench.triggers_urls``) goes through the same middleware, reads the body and answers JSON; it
is sent the same requests (a fresh body per delivery, signed), so that the load generator, which
shares the machine's cores, does the same work in both phases.

With Redis, events that start nothing go to the event buffer (``triggers.event_buffer``): the
requests that bring the events waiting to a multiple of ``event_buffer.FLUSH_AT`` write them
with COPY, inside gunicorn and so inside the measurement; what is left under that when the
load stops is written afterwards, as beat would. Every accepted event must then be in the
database. Without Redis each event is written before its answer.

The server is ``gunicorn marketing.wsgi`` (2 workers x 4 threads, gthread, DEBUG off) on
127.0.0.1 at a free port, with ``bench.triggers_settings``. Its database is the run's throwaway
database on PostgreSQL; on SQLite, whose throwaway database lives in memory, a copy of it in a
temporary file. Load comes from 8 client threads with keep-alive connections (closed loop),
taking turns between the two URLs in timed phases. gunicorn is stopped at the end, also on failure.

Where the time goes: besides what the bare view does, an event costs one Redis round trip (a
script that counts it under the rate limit, records its signature against replays and appends
it to the stream), the HMAC, parsing, evaluation and the decision as stored (its answer and the
digest of its rules: the reasons are worked out again when shown), and a copy of the trigger from
the process's own 2-second cache. Each blocking round trip also costs the
thread switches around it, which is why the three share one script and rows are written in
batches rather than one per answer.

Run it alone: ``python -m bench.run triggers_ingest``.
"""

import http.client
import itertools
import json
import os
import secrets
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from cryptography.fernet import Fernet
from django.conf import settings
from django.db import connection
from django.test import override_settings

from bench import Metric, Result
from bench.triggers_urls import BARE_EVENT_PATH
from e2e.harness import free_port, stop, wait_until
from campaigns.models import Campaign
from marketing.models import User
from marketing.services import workspace_create
from marketing.webhooks import signature
from triggers import event_buffer, services
from triggers.models import TriggerEvent

HOST = "127.0.0.1"
WORKERS, THREADS, CLIENTS = 2, 4, 8
RECONNECT_EVERY = 50
# On the 2-core VMs this runs on, one round's ratio swings between about 0.6 and 0.9 with the
# host (bench/README.md, ingest, "Eleventh session"): six rounds, not three, so that the run's
# figure says more about the code than about the seconds it ran in.
WARMUP_SECONDS, PHASE_SECONDS, ROUNDS = 1.0, 3.0, 6
MIN_VS_BARE = 0.7
MAX_P99_MS = 50.0
EVENT = {
    "order": {"id": "A-10293", "total": 12.5, "currency": "EUR", "items": [{"sku": "LIN-01", "qty": 2}]},
    "customer": {"tier": "silver", "email": "ada@example.com", "tags": ["newsletter"]},
}
RULES = {
    "match": "all",
    "rules": [
        {"path": "order.total", "op": "gt", "value": 50},
        {"match": "any", "rules": [
            {"path": "customer.tier", "op": "in", "value": ["gold", "platinum"]},
            {"path": "customer.tags", "op": "contains", "value": "vip"},
        ]},
    ],
}


@dataclass
class Phase:
    path: str
    seconds: float
    latencies_ms: list[float]
    errors: Counter

    @property
    def count(self) -> int:
        return len(self.latencies_ms)


def _create_data(encryption_key: str) -> tuple[int, str, str]:
    """The trigger, its token and its signing secret, stored encrypted with ``encryption_key``
    (the key the server is given: a secret it cannot read would refuse every event)."""
    user = User.objects.create_user(email="ingest@bench.example", password="x")
    workspace = workspace_create(name="Ingest bench", owner=user)
    campaign = Campaign.objects.create(workspace=workspace, name="Big orders", caption="Thank you")
    trigger = services.trigger_create(
        workspace=workspace, by=user, name="Big orders", kind="conditional", rules=RULES, campaigns=[campaign]
    )
    with override_settings(FIELD_ENCRYPTION_KEYS=[encryption_key]):
        secret = services.trigger_set_signing_secret(trigger=trigger, by=user)
    return trigger.pk, trigger.token, secret


def _server_database(folder: str) -> tuple[str, Path | None]:
    """A DATABASE_URL for the server holding the benchmark's data, and the SQLite file if it is one."""
    if connection.vendor == "postgresql":
        s = connection.settings_dict
        auth = quote(s["USER"] or "", safe="") + (":" + quote(s["PASSWORD"], safe="") if s["PASSWORD"] else "")
        return f"postgres://{auth}@{s['HOST'] or 'localhost'}:{s['PORT'] or 5432}/{s['NAME']}", None
    if connection.vendor != "sqlite":
        raise RuntimeError(f"no server database for {connection.vendor}")
    path = Path(folder) / "bench.sqlite3"
    connection.ensure_connection()
    target = sqlite3.connect(path)
    try:
        connection.connection.backup(target)
    finally:
        target.close()
    return f"sqlite:///{path}", path


def _stream() -> str:
    """The event buffer's stream for this run, apart from the developer's."""
    return f"bench-triggers-{os.getpid()}:events"


def _request(port: int, method: str, path: str, body: bytes | None = None, headers: dict | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@contextmanager
def gunicorn(database_url: str, folder: str, encryption_key: str) -> Iterator[int]:
    """A gunicorn serving the project on 127.0.0.1; yields its port and always stops it."""
    port = free_port()
    log = Path(folder) / "gunicorn.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.triggers_settings",
        "DATABASE_URL": database_url,
        "DEBUG": "False",
        "SECRET_KEY": secrets.token_urlsafe(40),
        # Production requires these two (marketing/settings.py); the trigger's signing secret
        # was stored with this key.
        "PUBLIC_BASE_URL": f"http://{HOST}",
        "FIELD_ENCRYPTION_KEYS": encryption_key,
        "ALLOWED_HOSTS": HOST,
        "SECURE_SSL_REDIRECT": "False",
        "SECURE_COOKIES": "False",
        # One JSON line per request would cost both views alike and bury the log.
        "LOG_LEVEL": "WARNING",
        "BENCH_CACHE_DIR": str(Path(folder) / "cache"),
        "BENCH_CACHE_PREFIX": f"bench-triggers-{os.getpid()}",
        "TRIGGER_EVENT_STREAM": _stream(),
        # Nothing leaves the machine.
        "SENTRY_DSN": "",
        "OPENAI_API_KEY": "",
        "N8N_BASE_URL": "",
    }
    command = [
        sys.executable, "-m", "gunicorn", "marketing.wsgi:application",
        "--bind", f"{HOST}:{port}",
        "--workers", str(WORKERS), "--threads", str(THREADS), "--worker-class", "gthread",
        "--keep-alive", "5", "--timeout", "30", "--graceful-timeout", "5",
        "--log-level", "warning", "--error-logfile", str(log),
    ]
    with open(log, "ab") as output:
        process = subprocess.Popen(
            command, cwd=settings.BASE_DIR, env=env, stdout=output, stderr=output, start_new_session=True
        )
    try:
        wait_until(
            lambda: _request(port, "GET", "/healthz")[0] == 200, process=process, what="gunicorn", logfile=log, timeout=30, every=0.2
        )
        yield port
    finally:
        stop(process, grace=15, log=print)  # its master and workers: the group is its own (start_new_session)


def load(
    port: int,
    path: str,
    make: Callable[[], tuple[bytes, dict]],
    *,
    seconds: float,
    clients: int = CLIENTS,
    reconnect_every: int = RECONNECT_EVERY,
) -> Phase:
    """Closed-loop load: ``clients`` threads, each on a keep-alive connection, for ``seconds``.
    ``make`` gives each request its body and headers (a signed event is signed anew each time:
    the intake refuses a replay).

    Each client opens a new connection every ``reconnect_every`` requests, as senders of
    webhooks do, so that the connections spread over gunicorn's workers as the run goes.
    """
    stop_at = time.perf_counter() + seconds

    def client() -> tuple[list[float], Counter]:
        latencies: list[float] = []
        errors: Counter = Counter()
        conn = http.client.HTTPConnection(HOST, port, timeout=10)
        while time.perf_counter() < stop_at:
            if latencies and len(latencies) % reconnect_every == 0:
                conn.close()
                conn = http.client.HTTPConnection(HOST, port, timeout=10)
            body, headers = make()
            started = time.perf_counter()
            try:
                conn.request("POST", path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
            except (OSError, http.client.HTTPException) as error:
                errors[type(error).__name__] += 1
                conn.close()
                conn = http.client.HTTPConnection(HOST, port, timeout=10)
                continue
            latencies.append((time.perf_counter() - started) * 1000)
            if response.status != 202:
                errors[response.status] += 1
            if response.will_close:
                conn.close()
                conn = http.client.HTTPConnection(HOST, port, timeout=10)
        conn.close()
        return latencies, errors

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        outcomes = list(pool.map(lambda _: client(), range(clients)))
    elapsed = time.perf_counter() - started
    errors: Counter = Counter()
    for _, counted in outcomes:
        errors.update(counted)
    return Phase(path, elapsed, [ms for latencies, _ in outcomes for ms in latencies], errors)


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def _summary(phases: list[Phase]) -> tuple[float, list[float]]:
    """Requests per second over the phases, and all their latencies."""
    count = sum(p.count for p in phases)
    seconds = sum(p.seconds for p in phases)
    return count / seconds, [ms for p in phases for ms in p.latencies_ms]


def run(*, requests: int) -> Result:
    """``requests`` is not used: the phases are timed (see the module's docstring)."""
    result = Result()
    encryption_key = Fernet.generate_key().decode()
    trigger_id, token, secret = _create_data(encryption_key)
    body = json.dumps(EVENT).encode()
    deliveries = itertools.count()

    def signed_event() -> tuple[bytes, dict]:
        # Each delivery differs, as real ones do, so no request is a replay of another.
        event = json.dumps({**EVENT, "delivery": next(deliveries)}).encode()
        return event, {"Content-Type": "application/json", signature.HEADER: signature.sign(secret=secret, target=token, body=event)}

    # The bare view gets the same requests, built and signed the same way, so that the two
    # phases differ in what the server does and not in what the load generator (on the same
    # two cores) does: the view reads the body and ignores the signature.
    bare_event = signed_event

    event_path = f"/hooks/triggers/{token}/"
    with tempfile.TemporaryDirectory(prefix="bench-triggers-") as folder:
        database_url, sqlite_file = _server_database(folder)
        result.say(
            f"server: gunicorn, {WORKERS} workers x {THREADS} threads, DEBUG off, on {connection.vendor}; "
            f"cache: {'Redis' if settings.REDIS_URL else 'files'}; load: {CLIENTS} keep-alive client threads"
        )
        if not event_buffer.enabled():
            result.say(
                "no event buffer (it needs REDIS_URL): every event is written before its answer. "
                "The targets are for production: PostgreSQL and Redis (set DATABASE_URL and REDIS_URL)."
            )
        with gunicorn(database_url, folder, encryption_key) as port:
            event, headers = signed_event()
            status, answer = _request(port, "POST", event_path, event, headers)
            decision = json.loads(answer)
            if status != 202 or decision.get("matched") is not False:
                raise AssertionError(f"the event URL answered {status} {answer[:200]!r}, not 202 unmatched")
            # What is measured checks the signature and refuses replays: a server that could not
            # read the secret would do neither.
            replay = _request(port, "POST", event_path, event, headers)[0]
            forged = _request(port, "POST", event_path, event, {**headers, signature.HEADER: "t=1,v1=00"})[0]
            if (replay, forged) != (409, 401):
                raise AssertionError(f"a replay answered {replay} and a forged signature {forged}, not 409 and 401")
            if _request(port, "POST", BARE_EVENT_PATH, body, {"Content-Type": "application/json"})[0] != 202:
                raise AssertionError("the bare view did not answer 202")
            targets = {"bare": (BARE_EVENT_PATH, bare_event), "event": (event_path, signed_event)}
            warmed = {name: load(port, path, make, seconds=WARMUP_SECONDS) for name, (path, make) in targets.items()}
            phases: dict[str, list[Phase]] = {"bare": [], "event": []}
            for _ in range(ROUNDS):
                for name, (path, make) in targets.items():
                    phases[name].append(load(port, path, make, seconds=PHASE_SECONDS))
        with override_settings(TRIGGER_EVENT_STREAM=_stream()):
            try:
                # What beat would write of the last batch, under FLUSH_AT events (see event_buffer).
                leftover = event_buffer.flush(batches=100)
            finally:
                event_buffer.drop()
        stored = _stored_events(trigger_id, sqlite_file)

    errors: Counter = Counter()
    for phase in [*phases["bare"], *phases["event"], *warmed.values()]:
        errors.update(phase.errors)
    bare_rps, bare_ms = _summary(phases["bare"])
    event_rps, event_ms = _summary(phases["event"])
    for label, rps, samples in (("bare JSON view", bare_rps, bare_ms), ("trigger event ", event_rps, event_ms)):
        result.say(
            f"{label}: {rps:7.0f} req/s   p50 {statistics.median(samples):6.1f} ms   "
            f"p90 {_percentile(samples, 0.90):6.1f} ms   p99 {_percentile(samples, 0.99):6.1f} ms   ({len(samples):,} requests)"
        )
    accepted = 1 + warmed["event"].count + sum(p.count for p in phases["event"])
    result.say(
        f"events accepted {accepted:,}, stored {stored:,} (warm-up included; {leftover:,} written after the load, "
        f"as beat would); errors: {dict(errors) or 'none'}"
    )
    if errors:
        raise AssertionError(f"some requests failed: {dict(errors)}")
    if stored != accepted:
        raise AssertionError(f"{accepted:,} events accepted but {stored:,} stored")
    result.metrics += [
        Metric("trigger_ingest_vs_bare", event_rps / bare_rps, "x", MIN_VS_BARE, decimals=2, op=">="),
        Metric("trigger_ingest_p99", _percentile(event_ms, 0.99), "ms", MAX_P99_MS, decimals=0),
    ]
    return result


def _stored_events(trigger_id: int, sqlite_file: Path | None) -> int:
    if sqlite_file is None:
        return TriggerEvent.objects.filter(trigger_id=trigger_id).count()
    with sqlite3.connect(sqlite_file) as db:
        return db.execute("SELECT COUNT(*) FROM triggers_triggerevent WHERE trigger_id = ?", [trigger_id]).fetchone()[0]

