"""Error tracking: grouping, scrubbing, regressions, storms and pruning."""

from datetime import timedelta
from pathlib import Path

import pytest
import responses
from celery import shared_task
from django.conf import settings
from django.test import override_settings
from django.utils import timezone

from integrations import http
from integrations.http import ProviderError
from monitoring import recorder, services
from monitoring.models import ErrorGroup, ErrorOccurrence, GroupStatus, Rollup
from monitoring.scrub import FILTERED
from tests.factories import WorkspaceFactory

CALLER = """
def call(fn):
    return fn()
"""
RAISER = """
def parse_payload(text):
    return int(text)
"""


def _load(source: str, filename: str, padding: int = 0) -> dict:
    """Compiles ``source`` as if it were a file of the project, pushed down by ``padding`` lines."""
    namespace: dict = {"__name__": Path(filename).stem}
    exec(compile("\n" * padding + source, str(Path(settings.BASE_DIR) / filename), "exec"), namespace)
    return namespace


def _fingerprint(caller_padding: int, raiser_padding: int) -> str:
    caller = _load(CALLER, "campaigns/fake_caller.py", caller_padding)
    raiser = _load(RAISER, "campaigns/fake_parser.py", raiser_padding)
    try:
        caller["call"](lambda: raiser["parse_payload"]("not a number"))
    except ValueError as exc:
        return recorder.identify(exc)[0]
    raise AssertionError("did not raise")


def test_it_keeps_grouping_stable_across_line_number_changes_in_other_files():
    assert _fingerprint(0, 0) == _fingerprint(40, 0) == _fingerprint(0, 12)


def test_it_puts_errors_from_different_places_in_different_groups():
    caller = _load(CALLER, "campaigns/fake_caller.py")
    try:
        caller["call"](lambda: int("x"))
    except ValueError as exc:
        elsewhere = recorder.identify(exc)[0]
    assert elsewhere != _fingerprint(0, 0)


def _raise(message: str = "bad") -> ValueError:
    try:
        raise ValueError(message)
    except ValueError as exc:
        return exc


def test_it_groups_occurrences_and_counts_them(db):
    for _ in range(3):
        recorder.record_exception(_raise(), category="task")
    recorder.flush()
    group = ErrorGroup.objects.get()
    assert group.times_seen == 3
    assert group.category == "task"
    assert group.culprit == "tests.monitoring.test_errors._raise"
    assert group.sample["stack"][-1]["function"] == "_raise"


def test_it_scrubs_secrets_from_samples(quiet_client, db):
    quiet_client.cookies["sessionid"] = "planted-session-cookie"
    response = quiet_client.post(
        "/__test/boom/",
        {"email": "a@example.com", "password": "planted-password"},
        HTTP_AUTHORIZATION="Bearer planted-bearer-token",
    )
    assert response.status_code == 500

    group = ErrorGroup.objects.get()
    text = str(group.sample) + str(list(ErrorOccurrence.objects.values_list("context", "message")))
    for secret in ("planted-password", "planted-session-cookie", "planted-bearer-token", "EAAB-planted-access-token-123"):
        assert secret not in text
    context = group.sample["context"]
    assert context["form"]["password"] == FILTERED
    assert context["form"]["email"] == ["a@example.com"]
    assert context["cookies"] == FILTERED
    assert context["headers"]["Cookie"] == FILTERED
    assert context["headers"]["Authorization"] == FILTERED
    assert group.sample["stack"][-1]["locals"]["access_token"] == FILTERED
    assert group.category == "request"


def test_it_categorises_an_error_in_an_inbound_webhook_as_webhook(quiet_client, db):
    quiet_client.post("/hooks/__test/boom/")
    assert ErrorGroup.objects.get().category == "webhook"


def test_it_lists_the_workspaces_affected(db):
    first, second = WorkspaceFactory(), WorkspaceFactory()
    recorder.record_exception(_raise(), category="task", workspace_id=first.pk)
    recorder.record_exception(_raise(), category="task", workspace_id=second.pk)
    recorder.flush()
    assert set(ErrorGroup.objects.get().workspaces.all()) == {first, second}


def test_it_reopens_a_resolved_group_that_happens_again_as_a_regression(db, time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    recorder.record_exception(_raise(), category="task")
    recorder.flush()
    group = ErrorGroup.objects.get()
    services.error_group_set_status(group=group, status=GroupStatus.RESOLVED)
    time_machine.shift(timedelta(minutes=5))

    recorder.record_exception(_raise(), category="task")
    recorder.flush()

    group.refresh_from_db()
    assert group.status == GroupStatus.OPEN
    assert group.regressed_at is not None
    assert group.times_seen == 2


def test_it_keeps_an_ignored_group_ignored(db):
    recorder.record_exception(_raise(), category="task")
    recorder.flush()
    services.error_group_set_status(group=ErrorGroup.objects.get(), status=GroupStatus.IGNORED)
    recorder.record_exception(_raise(), category="task")
    recorder.flush()
    assert ErrorGroup.objects.get().status == GroupStatus.IGNORED


def test_it_records_bounded_rows_for_an_error_storm_of_10000_exceptions(db):
    for index in range(10_000):
        recorder.record_exception(_raise(f"storm {index}"), category="request")
    recorder.flush()

    group = ErrorGroup.objects.get()
    assert group.times_seen == 10_000
    assert ErrorOccurrence.objects.count() <= settings.MONITORING_SAMPLES_PER_MINUTE * 2  # a minute may turn over
    minute_rows = Rollup.objects.filter(series="error", key="request", resolution="m")
    assert sum(minute_rows.values_list("count", flat=True)) == 10_000


def test_it_never_raises_recording_when_redis_is_down(db):
    with override_settings(REDIS_URL="redis://127.0.0.1:1/0"):
        recorder.record_exception(_raise(), category="task")
        recorder.flush()
    assert ErrorGroup.objects.get().times_seen == 1


def test_it_never_raises_recording_when_the_database_is_down(db, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("database down")

    monkeypatch.setattr(recorder, "_save_group", broken)
    assert recorder.record_exception(_raise(), category="task")
    recorder.flush()  # logs, drops, returns


@shared_task
def _failing_task(password: str) -> None:
    raise KeyError("missing")


def test_it_records_a_failing_task_with_its_scrubbed_arguments(db):
    # As a worker runs it: the failure is handled (and signalled) rather than raised at the caller.
    assert _failing_task.apply(kwargs={"password": "planted-password"}, throw=False).failed()
    group = ErrorGroup.objects.get()
    assert group.category == "task"
    assert group.sample["context"]["kwargs"]["password"] == FILTERED
    assert group.sample["context"]["task"].endswith("_failing_task")


@responses.activate
def test_it_groups_a_failed_provider_call_by_provider_and_error_code(db):
    body = {"error": {"message": "Invalid OAuth access token", "code": 190}}
    responses.get("https://graph.example/me", json=body, status=400)
    for _ in range(2):
        with pytest.raises(ProviderError):
            http.request("instagram", "GET", "https://graph.example/me?access_token=planted-token")
    responses.get("https://graph.example/other", json={"error": {"code": 4}}, status=400)
    with pytest.raises(ProviderError):
        http.request("instagram", "GET", "https://graph.example/other")

    groups = {group.title: group for group in ErrorGroup.objects.all()}
    assert set(groups) == {"instagram: client_error code 190", "instagram: client_error code 4"}
    assert groups["instagram: client_error code 190"].category == "integration:instagram"
    assert groups["instagram: client_error code 190"].times_seen == 2
    assert "planted-token" not in str(groups["instagram: client_error code 190"].sample)


def test_it_prunes_old_occurrences_and_rollups(db, time_machine):
    time_machine.move_to(timezone.now() - timedelta(days=settings.MONITORING_OCCURRENCE_RETENTION_DAYS + 1))
    recorder.record_exception(_raise(), category="task")
    recorder.flush()
    time_machine.move_to(timezone.now() + timedelta(days=settings.MONITORING_OCCURRENCE_RETENTION_DAYS + 1))
    recorder.record_exception(_raise("fresh"), category="task")
    recorder.flush()

    deleted = services.monitoring_prune()

    assert deleted["occurrences"] == 1
    assert ErrorOccurrence.objects.count() == 1
    old = Rollup.objects.filter(bucket__lt=timezone.now() - timedelta(days=30))
    assert set(old.values_list("resolution", flat=True)) == {"h"}  # hours are kept longer than minutes
    assert ErrorGroup.objects.get().times_seen == 2
