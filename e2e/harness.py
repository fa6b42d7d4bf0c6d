"""What the e2e harnesses (``python -m e2e.<peer>.run``) and the ingest benchmark's gunicorn
share: a free port, waiting for a peer to answer, a log's last lines, stopping a peer's whole
process group, and ^C semantics for SIGTERM and SIGHUP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(
    ready: Callable[[], bool], *, process: subprocess.Popen, what: str, logfile: Path | None, timeout: float, every: float
) -> None:
    """Asks ``ready()`` every ``every`` seconds until it says yes; RuntimeError, with the log's last
    lines, when the peer exits first or ``timeout`` seconds pass. A refused connection (an OSError,
    as requests' errors are too) is "not yet"."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode} while starting:\n{tail(logfile)}")
        try:
            if ready():
                return
        except OSError:
            pass
        time.sleep(every)
    raise RuntimeError(f"{what} did not answer within {timeout:.0f}s:\n{tail(logfile)}")


def tail(path: Path | None, lines: int = 60) -> str:
    if path is None:
        return "(no log)"
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def stop(process: subprocess.Popen | None, *, grace: float, log: Callable[[str], None]) -> None:
    """Stops a peer started with ``start_new_session=True`` and everything it started, by its
    process group: SIGTERM, then SIGKILL after ``grace`` seconds."""
    if process is None or process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        log(f"it did not stop within {grace:g} s; killing it")
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=10)


def interrupt_on_termination() -> None:
    """SIGTERM and SIGHUP raise KeyboardInterrupt, so a killed run still cleans up in ``finally``."""
    signal.signal(signal.SIGTERM, _raise_interrupt)
    signal.signal(signal.SIGHUP, _raise_interrupt)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")
