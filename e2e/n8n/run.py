"""`make e2e-n8n`: a real n8n on 127.0.0.1, driven by our product in tests/integrations/n8n/test_e2e_real_n8n.py.

1. Installs n8n (the repository's package.json, with its xlsx override) into a cache folder
   outside the checkout, ${XDG_CACHE_HOME:-~/.cache}/marketing-n8n/<version>, once.
2. Starts it on 127.0.0.1 and a free port, with its data in a temporary folder, telemetry,
   version checks and templates off.
3. Creates the owner (POST /rest/owner/setup), logs in (POST /rest/login) and creates an API key
   (POST /rest/api-keys).
4. Runs the e2e tests with N8N_E2E_BASE_URL and N8N_E2E_API_KEY set; they start our app on a live
   test server, install templates with our client and run campaigns through them.
5. Stops n8n (its whole process group) and removes the temporary folder, also on failure or ^C.

Usage: python -m e2e.n8n.run [--serve] [pytest args...]. --serve keeps n8n running until ^C instead of
running the tests (for development). Only Python's standard library and requests are needed.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from e2e.harness import free_port, interrupt_on_termination, stop, tail, wait_until

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_JSON = ROOT / "package.json"
VERSION = json.loads(PACKAGE_JSON.read_text())["dependencies"]["n8n"]
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "marketing-n8n" / VERSION
N8N_BIN = CACHE / "node_modules" / ".bin" / "n8n"
INSTALLED_MARKER = CACHE / ".installed"
STARTUP_TIMEOUT = float(os.environ.get("N8N_E2E_STARTUP_TIMEOUT", "180"))
OWNER = {"email": "e2e-owner@example.com", "firstName": "E2E", "lastName": "Owner", "password": "E2e-" + secrets.token_urlsafe(12) + "9a"}
API_KEY_SCOPES = [
    "workflow:create", "workflow:read", "workflow:update", "workflow:delete", "workflow:list",
    "workflow:activate", "workflow:deactivate",
    "execution:read", "execution:list",
    "credential:create", "credential:update", "credential:delete", "credential:list",
]  # fmt: skip


def log(message: str) -> None:
    print(f"[e2e-n8n] {message}", flush=True)


def ensure_installed() -> None:
    """npm install into the cache folder, once per package.json; a lock keeps parallel runs apart."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        cached = CACHE / "package.json"
        if (
            N8N_BIN.exists()
            and INSTALLED_MARKER.exists()
            and cached.exists()
            and cached.read_bytes() == PACKAGE_JSON.read_bytes()
        ):
            log(f"n8n {VERSION} already installed in {CACHE}")
            return
        log(f"installing n8n {VERSION} into {CACHE} (several minutes, about 1 GB, only the first time)")
        INSTALLED_MARKER.unlink(missing_ok=True)
        shutil.copyfile(PACKAGE_JSON, cached)
        env = {**os.environ, "SCARF_ANALYTICS": "false", "DO_NOT_TRACK": "1"}
        subprocess.run(["npm", "install", "--no-audit", "--no-fund"], cwd=CACHE, env=env, check=True)
        INSTALLED_MARKER.write_text(VERSION)


def n8n_env(home: Path, port: int, broker_port: int) -> dict[str, str]:
    base = f"http://127.0.0.1:{port}"
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "N8N_USER_FOLDER": str(home),
        "N8N_LISTEN_ADDRESS": "127.0.0.1",
        "N8N_HOST": "127.0.0.1",
        "N8N_PORT": str(port),
        "N8N_PROTOCOL": "http",
        "N8N_EDITOR_BASE_URL": base,
        "WEBHOOK_URL": base + "/",
        "N8N_ENCRYPTION_KEY": secrets.token_hex(24),
        "N8N_SECURE_COOKIE": "false",
        "N8N_PUBLIC_API_DISABLED": "false",
        "N8N_PUBLIC_API_SWAGGERUI_DISABLED": "true",
        "N8N_DIAGNOSTICS_ENABLED": "false",
        "N8N_VERSION_NOTIFICATIONS_ENABLED": "false",
        "N8N_TEMPLATES_ENABLED": "false",
        "N8N_PERSONALIZATION_ENABLED": "false",
        "N8N_HIRING_BANNER_ENABLED": "false",
        "N8N_COMMUNITY_PACKAGES_ENABLED": "false",
        "N8N_LICENSE_AUTO_RENEW_ENABLED": "false",
        "N8N_ENFORCE_SETTINGS_FILE_PERMISSIONS": "false",
        # Task runners (for Code nodes) talk to a broker on a fixed port unless told otherwise.
        "N8N_RUNNERS_BROKER_PORT": str(broker_port),
        "N8N_LOG_LEVEL": os.environ.get("N8N_E2E_LOG_LEVEL", "info"),
        "N8N_LOG_OUTPUT": "console",
        "DB_TYPE": "sqlite",
        "DB_SQLITE_POOL_SIZE": "2",
        "EXECUTIONS_MODE": "regular",
        "GENERIC_TIMEZONE": "UTC",
        "NODE_ENV": "production",
        "SCARF_ANALYTICS": "false",
        "DO_NOT_TRACK": "1",
        "NO_COLOR": "1",
    }


def healthy(base: str) -> bool:
    # While it migrates its database n8n answers every path with 200 "n8n is starting up", so
    # wait for readiness and for the REST API to answer JSON.
    if requests.get(f"{base}/healthz/readiness", timeout=2).status_code != 200:
        return False
    settings = requests.get(f"{base}/rest/settings", timeout=2)
    return settings.status_code == 200 and settings.headers.get("content-type", "").startswith("application/json")


def create_api_key(base: str) -> str:
    """Owner, login cookie, API key: n8n's headless setup."""
    session = requests.Session()
    session.headers["browser-id"] = secrets.token_hex(16)
    response = session.post(f"{base}/rest/owner/setup", json=OWNER, timeout=30)
    response.raise_for_status()
    response = session.post(
        f"{base}/rest/login", json={"emailOrLdapLoginId": OWNER["email"], "password": OWNER["password"]}, timeout=30
    )
    response.raise_for_status()
    response = session.post(
        f"{base}/rest/api-keys",
        json={"label": "marketing e2e", "scopes": API_KEY_SCOPES, "expiresAt": None},
        timeout=30,
    )
    if response.status_code >= 400:
        raise RuntimeError(f"POST /rest/api-keys answered {response.status_code}: {response.text[:500]}")
    data = response.json()
    data = data.get("data", data)
    return data["rawApiKey"]


def main(argv: list[str]) -> int:
    serve = "--serve" in argv
    pytest_args = [arg for arg in argv if arg != "--serve"]
    interrupt_on_termination()
    ensure_installed()
    home = Path(tempfile.mkdtemp(prefix="marketing-n8n-e2e-"))
    logfile = home / "n8n.log"
    process = None
    succeeded = False
    try:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        log(f"starting n8n {VERSION} on {base} (data in {home})")
        with open(logfile, "wb") as out:
            process = subprocess.Popen(
                [str(N8N_BIN), "start"],
                cwd=home,
                env=n8n_env(home, port, free_port()),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group, so stop() reaches its children
            )
        started = time.monotonic()
        wait_until(lambda: healthy(base), process=process, what="n8n", logfile=logfile, timeout=STARTUP_TIMEOUT, every=0.5)
        log(f"n8n is up after {time.monotonic() - started:.1f}s; creating the owner and an API key")
        api_key = create_api_key(base)
        if serve:
            log(f"serving: N8N_BASE_URL={base} N8N_API_KEY={api_key}  (^C to stop)")
            while process.poll() is None:
                time.sleep(1)
            return 1
        env = {**os.environ, "N8N_E2E_BASE_URL": base, "N8N_E2E_API_KEY": api_key}
        # tests/run.py, as make test: PostgreSQL and Redis when they answer. On SQLite in memory the
        # live server's thread and the test share one connection and meet "table is locked".
        python = str(ROOT / ".venv" / "bin" / "python")
        command = [python, "tests/run.py", "tests/integrations/n8n/test_e2e_real_n8n.py", *pytest_args]
        log("running " + " ".join(command[1:]))
        result = subprocess.run(command, cwd=ROOT, env=env)
        succeeded = result.returncode == 0
        return result.returncode
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        if not succeeded and not serve:
            log(f"n8n log (last lines):\n{tail(logfile)}")
        log("stopping n8n")
        stop(process, grace=20, log=log)  # n8n and its task runners
        shutil.rmtree(home, ignore_errors=True)
        log("stopped; temporary data removed")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
