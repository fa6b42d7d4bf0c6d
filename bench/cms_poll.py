"""One beat cycle over 1,000 feed sources served by a local web server, 90% of them unchanged.

The unchanged feeds answer the conditional GET with 304; the others answer 200 with a feed of
twenty posts, one of them new. Measured: claiming the due sources and polling each, one after
the other as a single worker would (beat hands each poll to a task; more workers divide this).
The tasks the new posts queue go to a queue of the benchmark's own, deleted afterwards.
"""

from __future__ import annotations

import hashlib
import threading
import time
from datetime import timedelta

from django.test import override_settings
from django.utils import timezone

from bench import Metric, Result, own_queue
from integrations.cms import services
from integrations.cms.models import ContentItem, ContentSource, ItemStatus, SourceState
from marketing.models import User
from marketing.services import workspace_create
from tests.local_server import LocalServer, QuietHandler

SOURCES = 1000
CHANGED_EVERY = 10  # every tenth source has a new post
POSTS = 20
MAX_SECONDS = 20.0


def _feed(source: int, new: bool) -> bytes:
    items = "".join(
        f"<item><title>Post {n} of feed {source}</title><link>https://blog{source}.example/{n}</link>"
        f"<guid>feed-{source}-post-{n}</guid><description>Something about post {n}.</description>"
        "<category>News</category></item>"
        for n in range(POSTS + (1 if new else 0), 0 if new else 1, -1)
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Blog {source}</title>{items}</channel></rss>'.encode()


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:16] + '"'


class _Server(LocalServer):
    """Serves /feed/<n>.xml with ETags and 304s, a thread per connection, like a small web server."""

    def __init__(self, bodies: dict[str, bytes]) -> None:
        self.bodies = bodies
        self.hits = {200: 0, 304: 0}
        lock = threading.Lock()
        server = self

        class Handler(QuietHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                body = server.bodies.get(self.path, b"")
                etag = _etag(body)
                status = 304 if self.headers.get("If-None-Match") == etag else 200
                with lock:
                    server.hits[status] += 1
                self.send_response(status)
                self.send_header("ETag", etag)
                self.send_header("Content-Type", "application/rss+xml")
                self.send_header("Content-Length", "0" if status == 304 else str(len(body)))
                self.end_headers()
                if status == 200:
                    self.wfile.write(body)

        super().__init__(Handler)

    def url(self, path: str) -> str:
        return self.origin + path


def _setup(server: _Server, now) -> list[ContentSource]:
    user = User.objects.create_user(email="cms@bench.example", password="x")
    workspace = workspace_create(name="Feeds bench", owner=user)
    sources = []
    for n in range(SOURCES):
        old = _feed(n, new=False)
        changed = n % CHANGED_EVERY == 0
        server.bodies[f"/feed/{n}.xml"] = _feed(n, new=True) if changed else old
        sources.append(
            ContentSource(
                workspace=workspace,
                name=f"Blog {n}",
                url=server.url(f"/feed/{n}.xml"),
                state=SourceState.OK,
                etag=_etag(old),
                last_success_at=now - timedelta(minutes=31),
                next_poll_at=now - timedelta(seconds=1),
            )
        )
    sources = ContentSource.objects.bulk_create(sources)
    ContentItem.objects.bulk_create(
        ContentItem(
            workspace=workspace, source=source, guid=f"feed-{n}-post-{p}", title=f"Post {p}", status=ItemStatus.BASELINE
        )
        for n, source in enumerate(sources)
        for p in range(1, POSTS + 1)
    )
    return sources


def run(*, requests: int) -> Result:
    from integrations.cms.tasks import process_item

    result = Result()
    server = _Server({}).start()
    with own_queue(process_item.app, "integrations.cms.tasks.*", "bench-cms"), override_settings(OUTBOUND_ALLOW_PRIVATE_HOSTS=True):
        try:
            now = timezone.now()
            _setup(server, now)
            started = time.perf_counter()
            due = services.sources_claim_due(now=now)
            polls = [services.source_poll(source_id=source_id, now=now) for source_id in due]
            elapsed = time.perf_counter() - started
        finally:
            server.stop()
    failed = [poll for poll in polls if poll is None or not poll.ok]
    new_items = sum(poll.new_items for poll in polls if poll)
    result.say(
        f"{len(due):,} sources polled in {elapsed:.2f} s ({elapsed / max(1, len(due)) * 1000:.1f} ms each): "
        f"{server.hits[304]} answered 304, {server.hits[200]} answered 200; {new_items} new posts, {len(failed)} failures"
    )
    if len(due) != SOURCES or failed or new_items != SOURCES // CHANGED_EVERY:
        raise AssertionError(f"expected {SOURCES} good polls and {SOURCES // CHANGED_EVERY} new posts: {failed[:3]}")
    result.metrics.append(Metric("cms_poll_1000_sources_s", elapsed, "s", MAX_SECONDS, decimals=2))
    return result
