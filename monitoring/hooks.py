"""Where errors and timings come from: unhandled request exceptions, Celery tasks, and (from
``integrations/http.py``) failed calls to outside services."""

from __future__ import annotations

import atexit
import functools
import time
from typing import Any

from django.conf import settings
from django.core.signals import got_request_exception
from django.http import HttpRequest

from marketing.logging import request_id_var, user_id_var, workspace_id_var

from . import metrics, recorder

WEBHOOK_PREFIXES = ("/hooks/", "/stripe/")


def connect() -> None:
    from celery import signals

    got_request_exception.connect(on_request_exception, dispatch_uid="monitoring.request_exception")
    signals.task_prerun.connect(on_task_prerun, dispatch_uid="monitoring.task_prerun")
    signals.task_postrun.connect(on_task_postrun, dispatch_uid="monitoring.task_postrun")
    signals.task_failure.connect(on_task_failure, dispatch_uid="monitoring.task_failure")
    signals.beat_init.connect(on_beat_init, dispatch_uid="monitoring.beat_init")
    signals.worker_process_shutdown.connect(lambda **_: recorder.flush_at_exit(), weak=False, dispatch_uid="monitoring.shutdown")
    atexit.register(recorder.flush_at_exit)


def on_beat_init(sender: Any = None, **kwargs: Any) -> None:
    """Beat sends its heartbeat as it starts. Its first scheduled one comes 30 s later, and the
    minute's alert evaluation, often due sooner, would find none and report beat silent: a
    FIRING and a RESOLVED message on every start. A broker that does not answer is logged by
    Celery's signal dispatch, and beat starts anyway."""
    from .tasks import heartbeat

    heartbeat.apply_async(expires=25)


def request_category(path: str) -> str:
    return "webhook" if path.startswith(WEBHOOK_PREFIXES) else "request"


def request_context(request: HttpRequest) -> dict[str, Any]:
    """What a request sample keeps; scrubbed by the recorder (cookies and auth headers included)."""
    headers = {name: value for name, value in request.headers.items()}
    context: dict[str, Any] = {
        "request_id": getattr(request, "id", None) or request_id_var.get(),
        "method": request.method,
        "path": request.path,
        "query": {key: request.GET.getlist(key) for key in request.GET},
        "headers": headers,
        "cookies": dict(request.COOKIES),
        "user_id": user_id_var.get(),
        "workspace_id": workspace_id_var.get(),
    }
    if request.method == "POST" and request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        try:
            context["form"] = {key: request.POST.getlist(key) for key in request.POST}
        except Exception:  # noqa: BLE001 - an unreadable body is not a reason to lose the error
            context["form"] = "<unreadable>"
    return context


def on_request_exception(sender: Any, request: HttpRequest | None = None, **kwargs: Any) -> None:
    import sys

    exc = sys.exc_info()[1]
    if exc is None or request is None:
        return
    workspace = getattr(request, "workspace", None)
    recorder.record_exception(
        exc,
        category=request_category(request.path),
        context=request_context(request),
        workspace_id=getattr(workspace, "pk", None) or workspace_id_var.get(),
    )


_task_started: dict[str, float] = {}


def on_task_prerun(task_id: str | None = None, **kwargs: Any) -> None:
    if task_id:
        _task_started[task_id] = time.perf_counter()


def on_task_postrun(task_id: str | None = None, task: Any = None, state: str | None = None, **kwargs: Any) -> None:
    started = _task_started.pop(task_id or "", None)
    name = getattr(task, "name", "?")
    seconds = time.perf_counter() - started if started is not None else None
    failed = state == "FAILURE"
    metrics.TASK_RUNS.labels(task=name, state=(state or "unknown").lower()).inc()
    if seconds is not None:
        metrics.TASK_DURATION.labels(task=name).observe(seconds)
    recorder.record_timing("task", name, ms=None if seconds is None else seconds * 1000, failed=failed)
    recorder.maybe_flush()


def on_task_failure(
    sender: Any = None, task_id: str | None = None, exception: BaseException | None = None, args: Any = None,
    kwargs: Any = None, **extra: Any,
) -> None:
    if exception is None:
        return
    request = getattr(sender, "request", None)
    recorder.record_exception(
        exception,
        category="task",
        context={
            "task": getattr(sender, "name", "?"),
            "task_id": task_id,
            "args": list(args or ()),
            "kwargs": dict(kwargs or {}),
            "retries": getattr(request, "retries", 0),
            "request_id": request_id_var.get(),
        },
        workspace_id=workspace_id_var.get(),
    )


def provider_failure(provider: str, exc: BaseException, *, outcome: str, status: int | None) -> None:
    code = _provider_code(exc, outcome, status)
    recorder.record_provider_error(
        provider=provider,
        code=code,
        message=str(exc),
        context={"outcome": outcome, "status": status, "request_id": request_id_var.get()},
        workspace_id=workspace_id_var.get(),
        level="error" if outcome in ("server_error", "timeout", "connection_error", "circuit_open") else "warning",
    )


def _provider_code(exc: BaseException, outcome: str, status: int | None) -> str:
    """The provider's own error code when its answer carries one (Graph: ``error.code``), else the outcome."""
    response = getattr(exc, "response", None)
    if response is not None:
        try:
            body = response.json()
        except Exception:  # noqa: BLE001 - not JSON
            body = None
        error = body.get("error") if isinstance(body, dict) else None
        code = error.get("code") if isinstance(error, dict) else None
        if isinstance(code, int | str) and code != "":
            return f"{outcome} code {code}"
    return f"{outcome} ({status})" if status else outcome


def provider_call(
    provider: str, *, outcome: str, seconds: float, failure: BaseException | None, status: int | None
) -> None:
    """Called by integrations/http.py once per call: the provider's rollup, and the error when it failed."""
    if not settings.MONITORING_ENABLED:
        return
    ok = outcome == "success"
    recorder.record_timing(
        "provider", provider, ms=None if outcome == "circuit_open" else seconds * 1000, failed=not ok
    )
    if failure is not None and not ok:
        provider_failure(provider, failure, outcome=outcome, status=status)


def publish_finished(*, destination: str, kind: str, ok: bool) -> None:
    """Called when a campaign run finishes: publishes by outcome, and the per-destination rollup."""
    if not settings.MONITORING_ENABLED:
        return
    metrics.PUBLISHES.labels(destination=kind, outcome="succeeded" if ok else "failed").inc()
    recorder.record_timing("publish", destination, failed=not ok)


@functools.cache
def _trigger_events(outcome: str):
    # labels() checks its arguments and takes a lock on every call; there are a dozen outcomes,
    # and this counter is counted on every inbound event.
    return metrics.TRIGGER_EVENTS.labels(outcome=outcome)


def trigger_event(*, outcome: str) -> None:
    """Called for every inbound trigger event: matched, not_matched or rejected:<reason>."""
    if not settings.MONITORING_ENABLED:
        return
    _trigger_events(outcome).inc()
    recorder.record_timing("trigger_event", outcome, failed=outcome.startswith("rejected"))
