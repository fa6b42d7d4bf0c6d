"""The engine's own time for a run with one Instagram target, the Graph API answering at once.

A fake Graph API runs in a process of its own on 127.0.0.1 and answers every call at once from
canned JSON (quota, container, status FINISHED, publish, permalink, first comment). Each sample
is one whole run, timed from the worker's call to ``execution_run`` until it returns: claiming
the run, preparing the image and the caption, the six Graph calls through the shared HTTP layer
(``integrations/http.py``), and every row written on the way. Nothing is subtracted; the round
trips to the fake are printed beside the result for scale. Creating the runs is not timed
(``schedule_dispatch`` measures that).

The runs are timed as the worker executes them in production, with ``DEBUG`` off: under
``make bench``'s ``DEBUG=1`` Django's debug cursor would otherwise keep and log every statement,
work no worker does (under 1 ms of a run, within the noise: bench/README.md). Only the timed
loop is switched; the rest of the run and every other benchmark keep the settings they had.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import multiprocessing
import socket
import statistics
import time
from urllib.parse import urlsplit

import requests as http_client
from django.test import override_settings
from django.utils import timezone

from bench import Metric, Result, own_queue
from campaigns import executions, images, services
from campaigns.models import CampaignExecution, ExecutionStatus
from integrations.instagram.models import InstagramAccount
from marketing.models import User
from marketing.services import workspace_create

RUNS = 60
WARMUP = 5
MAX_MS = 15.0
IG_USER_ID = "17841400000000099"


def _answer(path: str, counter) -> bytes:
    """The fake's JSON answer to one Graph call, by the path it asks for."""
    parts = path.split("?", 1)[0].rstrip("/").split("/")[3:]  # after /graph/v23.0/
    if parts[-1] == "content_publishing_limit":
        body = {"data": [{"quota_usage": 0, "config": {"quota_total": 100, "quota_duration": 86400}}]}
    elif parts[-1] in ("media", "media_publish", "comments"):
        body = {"id": str(next(counter))}
    elif "permalink" in path:
        body = {"permalink": f"https://www.instagram.com/p/{parts[0]}/", "id": parts[0]}
    else:  # a container's status
        body = {"status_code": "FINISHED", "id": parts[0]}
    payload = json.dumps(body).encode()
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(payload), payload)


def _serve(port_out, calls) -> None:
    """The fake Graph API: an asyncio server answering each request on a kept-alive connection
    with one write, as soon as its headers and body are in.

    http.server's handler took 0.3 ms of its own CPU per call (parsing headers through
    email.parser, several writes) on the other core while the engine waited for it: time of the
    fake's, not the engine's.
    """
    counter = iter(range(17900000000000000, 18000000000000000))

    class Graph(asyncio.Protocol):
        def connection_made(self, transport) -> None:
            transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.transport, self.buffer = transport, b""

        def data_received(self, data: bytes) -> None:
            self.buffer += data
            while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
                head = self.buffer[:end].decode("latin-1")
                length = next(
                    (int(line.split(":", 1)[1]) for line in head.split("\r\n")[1:] if line.lower().startswith("content-length:")), 0
                )
                if len(self.buffer) < end + 4 + length:
                    return  # the body is still on its way
                self.buffer = self.buffer[end + 4 + length :]
                with calls.get_lock():
                    calls.value += 1
                self.transport.write(_answer(head.split(" ", 2)[1], counter))

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(Graph, "127.0.0.1", 0)
        port_out.put(server.sockets[0].getsockname()[1])
        await server.serve_forever()

    asyncio.run(main())


def _round_trip_ms(url: str, count: int = 50) -> tuple[float, float]:
    """Median time of one bare GET to the fake on a kept-alive connection, for scale: through
    http.client (what the fake and the loopback cost) and through a plain requests session."""
    parts = urlsplit(url)
    target = f"{parts.path}/{IG_USER_ID}/content_publishing_limit"
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    plain = []
    for _ in range(count):
        started = time.perf_counter()
        connection.request("GET", target)
        connection.getresponse().read()
        plain.append((time.perf_counter() - started) * 1000)
    connection.close()
    with http_client.Session() as session:
        through_requests = []
        for _ in range(count):
            started = time.perf_counter()
            session.get(f"{url}/{IG_USER_ID}/content_publishing_limit").raise_for_status()
            through_requests.append((time.perf_counter() - started) * 1000)
    return statistics.median(plain), statistics.median(through_requests)


def run(*, requests: int) -> Result:
    from campaigns.tasks import run_execution

    result = Result()
    context = multiprocessing.get_context("fork")
    ports, calls = context.Queue(), context.Value("i", 0)
    fake = context.Process(target=_serve, args=(ports, calls), daemon=True)
    fake.start()
    graph_url = f"http://127.0.0.1:{ports.get(timeout=10)}/graph/v23.0"
    try:
        # The runs this creates are queued to a queue of the benchmark's own; the benchmark runs
        # them itself, as the worker would.
        with own_queue(run_execution.app, run_execution.name, "bench-publish"), override_settings(
            INSTAGRAM_GRAPH_URL=graph_url,
            META_APP_ID="1234567890",
            META_APP_SECRET="bench-app-secret",
            OUTBOUND_ALLOW_PRIVATE_HOSTS=True,
        ):
            samples = _measure(result)
            graph_calls = calls.value / (WARMUP + RUNS)
            bare, bare_requests = _round_trip_ms(graph_url)
    finally:
        fake.terminate()
        fake.join(5)
    median = statistics.median(samples)
    p90 = statistics.quantiles(samples, n=10, method="inclusive")[-1]
    result.say(
        f"one run, one Instagram target: median {median:.2f} ms, p90 {p90:.2f} ms, min {min(samples):.2f} ms "
        f"({len(samples)} runs; {graph_calls:g} Graph calls each; a bare round trip to the fake takes {bare:.2f} ms "
        f"through http.client, {bare_requests:.2f} ms through a plain requests session)"
    )
    result.metrics.append(Metric("execution_publish_overhead_ms", median, "ms", MAX_MS, decimals=2))
    return result


def _measure(result: Result) -> list[float]:
    user = User.objects.create_user(email="publish@bench.example", password="x")
    workspace = workspace_create(name="Publish bench", owner=user)
    account = InstagramAccount.objects.create(
        workspace=workspace,
        ig_user_id=IG_USER_ID,
        username="benchshop",
        page_id="1000099",
        page_name="Bench Page",
        access_token="EAAbenchtoken",
        token_expires_at=timezone.now() + timezone.timedelta(days=50),
    )
    campaign = services.campaign_create(
        workspace=workspace,
        by=user,
        name="Publish bench",
        caption="New in store this week",
        hashtags="#bench",
        first_comment="Link in bio",
        targets=[f"instagram:{account.pk}"],
    )
    services.campaign_image_add(campaign=campaign, prepared=images.draw_placeholder(title="Bench", subtitle="One image"))
    samples, cpu = [], []
    # As the worker runs in production: no debug cursor keeping and logging every statement.
    with override_settings(DEBUG=False):
        for n in range(WARMUP + RUNS):
            execution = executions.execution_create(campaign=campaign, by=user)
            started, started_cpu = time.perf_counter(), time.process_time()
            executions.execution_run(execution_id=execution.pk)
            elapsed = (time.perf_counter() - started) * 1000
            cpu_ms = (time.process_time() - started_cpu) * 1000
            execution.refresh_from_db()
            if execution.status != ExecutionStatus.SUCCEEDED:
                raise AssertionError(f"run {n} ended {execution.status}: {execution.error_message}")
            if n >= WARMUP:
                samples.append(elapsed)
                cpu.append(cpu_ms)
    step = execution.steps.filter(name="publish").get()
    if not step.external_id or step.external_url != f"https://www.instagram.com/p/{step.external_id}/":
        raise AssertionError(f"the publish step recorded no media id or the wrong permalink: {step.external_url!r}")
    published = CampaignExecution.objects.filter(campaign=campaign, status=ExecutionStatus.SUCCEEDED).count()
    result.say(f"{published} runs published, each to @{account.username}; this process's CPU time per run: median {statistics.median(cpu):.2f} ms")
    return samples
