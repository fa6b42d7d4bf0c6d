"""An HTTP server on 127.0.0.1 at a free port, served from a thread: what the tests' fake peers
(OpenAI, Stripe, n8n, WordPress, feeds, scripted answers) are built on.

A fake passes its request handler class to ``LocalServer.__init__`` and adds its own state and
answers; ``start``/``stop`` or ``with`` run it. ``stopping`` is set first thing on stop, so that
handlers holding a connection open (a hang, a drip, an endless body) can let go at once.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self


class QuietHandler(BaseHTTPRequestHandler):
    # An answer leaves in two writes (headers, body); with Nagle's algorithm on, a client's delayed
    # ACK holds the second one 40 ms whenever its next request follows quickly, which no real
    # server does (Stripe, Meta and OpenAI answer in one write).
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: object) -> None:
        pass  # the tests read what a fake records, not its access log


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        pass  # clients that hang up on a hostile answer are the point of several tests


class LocalServer:
    def __init__(self, handler: type[BaseHTTPRequestHandler], *, quiet_errors: bool = False) -> None:
        self.stopping = threading.Event()
        self._httpd = (_QuietServer if quiet_errors else ThreadingHTTPServer)(("127.0.0.1", 0), handler)
        # A short poll interval lets shutdown() return at once rather than after half a second.
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.01,), daemon=True)

    @property
    def origin(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
