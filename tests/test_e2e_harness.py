import subprocess
import sys
import time

import pytest
import requests

from e2e.harness import stop, tail, wait_until

# A parent that starts a sleeping child: both in the new process group the harness stops.
PARENT = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); print('up', flush=True); time.sleep(60)"
STUBBORN = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(60)"


def _start(code: str) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, start_new_session=True)
    assert process.stdout.readline() == b"up\n"
    return process


def _group_alive(pgid: int) -> bool:
    listing = subprocess.run(["ps", "-o", "pgid=,stat=", "-A"], capture_output=True, text=True).stdout.splitlines()
    return any(int(fields[0]) == pgid and not fields[1].startswith("Z") for fields in map(str.split, listing))


def test_it_stops_the_peer_and_what_it_started():
    process = _start(PARENT)
    time.sleep(0.3)  # the child is started after the parent says it is up
    stop(process, grace=5, log=lambda message: None)
    assert process.returncode is not None
    deadline = time.monotonic() + 5
    while _group_alive(process.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _group_alive(process.pid)


def test_it_kills_a_peer_that_ignores_sigterm_after_the_grace_time():
    process = _start(STUBBORN)
    said = []
    stop(process, grace=0.5, log=said.append)
    assert process.returncode == -9
    assert said == ["it did not stop within 0.5 s; killing it"]


def test_it_gives_the_last_lines_of_a_log_or_says_there_is_none(tmp_path):
    log = tmp_path / "peer.log"
    log.write_text("".join(f"line {n}\n" for n in range(100)))
    assert tail(log, 3) == "line 97\nline 98\nline 99"
    assert tail(tmp_path / "missing.log") == "(no log)"


def test_it_waits_until_the_peer_is_ready_and_takes_a_refused_connection_for_not_yet():
    process = _start(STUBBORN)
    answers = iter([requests.ConnectionError("refused"), False, True])

    def ready() -> bool:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    try:
        wait_until(ready, process=process, what="peer", logfile=None, timeout=5, every=0.01)
        assert next(answers, "asked no more") == "asked no more"
    finally:
        stop(process, grace=0.1, log=lambda message: None)


def test_it_stops_waiting_with_the_log_when_the_peer_exits(tmp_path):
    log = tmp_path / "peer.log"
    log.write_text("listen: address already in use\n")
    process = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"], start_new_session=True)
    with pytest.raises(RuntimeError, match=r"peer exited with 3 while starting:\nlisten: address already in use"):
        wait_until(lambda: False, process=process, what="peer", logfile=log, timeout=10, every=0.05)
