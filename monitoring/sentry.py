"""Sentry, when SENTRY_DSN is set: Django, Celery and Redis integrations, our scrubbing on every event."""

from __future__ import annotations

import subprocess
from pathlib import Path


def default_release() -> str:
    """The deployed commit, when the code is a git checkout; empty otherwise."""
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=Path(__file__).resolve().parent.parent,
            capture_output=True,
            text=True,
            timeout=2,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def sentry_options(*, dsn: str, release: str, environment: str, traces_sample_rate: float) -> dict:
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration
    from sentry_sdk.integrations.redis import RedisIntegration
    from sentry_sdk.scrubber import DEFAULT_DENYLIST, EventScrubber

    from .scrub import sentry_before_send

    return {
        "dsn": dsn,
        "release": release or default_release() or None,
        "environment": environment,
        "send_default_pii": False,
        "traces_sample_rate": traces_sample_rate,
        "integrations": [DjangoIntegration(), CeleryIntegration(monitor_beat_tasks=False), RedisIntegration()],
        "event_scrubber": EventScrubber(denylist=[*DEFAULT_DENYLIST, "access_token", "refresh_token", "signature"]),
        "before_send": sentry_before_send,
    }


def init_sentry(**kwargs) -> None:
    import sentry_sdk

    sentry_sdk.init(**sentry_options(**kwargs))
