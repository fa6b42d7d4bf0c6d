"""`make e2e-api`: schemathesis over the whole API schema, against our app on a live server.

1. Migrates a throwaway SQLite database in a temporary folder, and creates a user, a workspace, an
   API token, a campaign, a manual trigger, a content source and an Instagram account.
2. Serves the app with gunicorn on 127.0.0.1 and a free port (tasks run inline). Every outbound
   HTTP call goes to a proxy address on loopback where nothing listens, so the URLs schemathesis
   makes up (a source's address, polled as it is saved) are refused here and never reach the network.
3. Runs ``schemathesis run`` on /api/schema/ with the token, every check on (no 5xx, answers
   that match the schema, no undocumented status code), bounded in examples and time. A config
   file gives the operations on one campaign, trigger or source the ids of those made in step 1.
4. Stops the server, also on failure or ^C. Exit code: schemathesis's.

Usage: python -m e2e.api.run
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import requests

from e2e.harness import free_port, interrupt_on_termination, stop, wait_until

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
MAX_EXAMPLES = os.environ.get("E2E_API_MAX_EXAMPLES", "25")
TIME_LIMIT = int(os.environ.get("E2E_API_SECONDS", "300"))

# Prints the token and the ids CONFIG needs, on the last line.
SETUP = """
from integrations.cms.services import source_create
from integrations.instagram.models import InstagramAccount
from marketing.services import api_token_create, workspace_create
from marketing.models import User
from tests.factories import CampaignFactory, add_image
from triggers.models import TriggerKind
from triggers.services import trigger_create
user = User.objects.create_user("schemathesis@example.com", "x" * 20)
workspace = workspace_create(name="Schemathesis", owner=user)
_, raw = api_token_create(workspace=workspace, user=user, name="schemathesis")
campaign = CampaignFactory(workspace=workspace, name="Probe")
add_image(campaign)
trigger = trigger_create(workspace=workspace, by=user, name="Probe", kind=TriggerKind.MANUAL, campaigns=[campaign])
source = source_create(workspace=workspace, by=user, name="Probe", url="{feed_url}")
account = InstagramAccount.objects.create(workspace=workspace, ig_user_id="17841400000000001", username="probe", page_id="1")
print(raw, campaign.pk, trigger.pk, source.pk, account.pk)
"""
# The operations on one campaign, trigger or source, with the ids made by SETUP: without them
# every request to an operation no other one feeds ids to ends in a 404 (a DELETE may still remove
# one of them part way: the stateful phase follows links from a GET to the DELETE of the same id).
# A DELETE keeps made-up ids: with a fixed one, every DELETE after the first would be a 404.
CONFIG = """
[[operations]]
include-path = "/api/v1/campaigns/{{id}}/schedule/"
parameters = {{ "path.id" = {campaign} }}

[[operations]]
include-path = "/api/v1/triggers/{{id}}/fire/"
parameters = {{ "path.id" = {trigger} }}

[[operations]]
include-path = ["/api/v1/sources/{{id}}/items/", "/api/v1/sources/{{id}}/check/"]
parameters = {{ "path.id" = {source} }}

[[operations]]
include-path = "/api/v1/sources/{{id}}/"
include-method = ["GET", "PATCH"]
parameters = {{ "path.id" = {source} }}

[[operations]]
include-path = "/api/v1/instagram-accounts/{{id}}/best-times/"
parameters = {{ "path.id" = {account} }}
"""
# Where outbound calls go instead of the internet: the discard port on loopback, closed here.
DEAD_PROXY = "http://127.0.0.1:9"


def log(message: str) -> None:
    print(f"[e2e-api] {message}", flush=True)


def main() -> int:
    interrupt_on_termination()
    with tempfile.TemporaryDirectory(prefix="e2e-api-") as folder:
        env = {
            **os.environ,
            # Development settings (no collected static files, no HTTPS redirect): a 5xx is a 5xx either way.
            "DEBUG": "1",
            "PUBLIC_BASE_URL": "http://127.0.0.1",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "CELERY_TASK_ALWAYS_EAGER": "1",
            # Schemathesis sends thousands of requests a minute; the throttle is not under test.
            "API_RATE_LIMIT": "1000000/minute",
            "MEDIA_ROOT": str(Path(folder) / "media"),
            "REDIS_URL": os.environ.get("REDIS_URL", ""),
            # requests and httpx read these: no made-up host is ever resolved or called.
            "HTTP_PROXY": DEAD_PROXY,
            "HTTPS_PROXY": DEAD_PROXY,
            "http_proxy": DEAD_PROXY,
            "https_proxy": DEAD_PROXY,
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }
        # A database of its own, gone with the folder: the run writes whatever schemathesis sends.
        env["DATABASE_URL"] = f"sqlite:///{Path(folder) / 'db.sqlite3'}"
        python = str(BIN / "python")
        subprocess.run([python, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
        port = free_port()
        # The source polls our own server, on loopback, for a feed it does not have.
        setup = SETUP.format(feed_url=f"http://127.0.0.1:{port}/e2e-feed.xml")
        token, *ids = subprocess.run(
            [python, "manage.py", "shell", "-c", setup], cwd=ROOT, env=env, check=True, capture_output=True, text=True
        ).stdout.strip().splitlines()[-1].split()
        names = ("campaign", "trigger", "source", "account")
        config = Path(folder) / "schemathesis.toml"
        config.write_text(CONFIG.format(**dict(zip(names, map(int, ids), strict=True))))
        server = subprocess.Popen(
            [str(BIN / "gunicorn"), "marketing.wsgi", "-b", f"127.0.0.1:{port}", "-w", "2", "--log-level", "warning"],
            cwd=ROOT, env=env, start_new_session=True,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            wait_until(
                lambda: requests.get(base + "/healthz", timeout=1).ok, process=server, what="gunicorn", logfile=None, timeout=60, every=0.2
            )
            command = [
                str(BIN / "schemathesis"), "--config-file", str(config), "run", base + "/api/schema/",
                "--url", base,
                "-H", f"Authorization: Bearer {token}",
                # No 5xx, answers (status, content type, body) as documented. Requests refused by a
                # business rule the schema cannot express (an illegal status change) are not failures.
                "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
                "--max-examples", MAX_EXAMPLES,
                "--generation-deterministic",
                "--request-timeout", "10",
                "--workers", "2",
            ]
            log(" ".join(command).replace(token, "mkt_…"))
            return subprocess.run(command, cwd=ROOT, timeout=TIME_LIMIT).returncode
        finally:
            stop(server, grace=10, log=log)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        log("interrupted")
        sys.exit(130)
