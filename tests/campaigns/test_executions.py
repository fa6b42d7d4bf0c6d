import re
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from campaigns import destinations, executions, selectors
from campaigns import services as campaign_services
from campaigns.destinations import RetryLater, StepFailed, StepOutcome
from campaigns.models import CampaignExecution, CampaignTarget, ExecutionStep
from marketing.models import Workspace
from tests.factories import CampaignFactory, add_image


@pytest.fixture
def campaign(alice_workspace):
    return CampaignFactory(workspace=alice_workspace)


@pytest.fixture
def run_now(alice_client, django_capture_on_commit_callbacks):
    def run(campaign):
        with django_capture_on_commit_callbacks(execute=True):
            return alice_client.post(f"/campaigns/{campaign.pk}/run/")

    return run


class FakeDestination(destinations.Destination):
    """A destination that records calls and answers from a script."""

    key = "fake"
    label = "fake"
    group = "Fakes"
    model = Workspace  # a target names the campaign's own workspace

    def queryset(self, *, workspace_id):
        return Workspace.objects.filter(pk=workspace_id)

    def __init__(self, *outcomes):
        self.outcomes = list(outcomes)
        self.calls = 0

    def publish(self, *, execution, step, caption):
        self.calls += 1
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


@pytest.fixture
def destination(monkeypatch, campaign):
    """Registers a scripted destination and makes it the campaign's only target."""

    def use(*outcomes):
        fake = FakeDestination(*outcomes)
        monkeypatch.setitem(destinations._registry, fake.key, fake)
        CampaignTarget.objects.get_or_create(campaign=campaign, destination=fake.key, object_id=campaign.workspace_id)
        return fake

    return use


def test_it_creates_exactly_one_execution_and_runs_its_steps(run_now, campaign, alice):
    add_image(campaign)
    response = run_now(campaign)

    assert response.url == campaign.get_absolute_url()
    execution = CampaignExecution.objects.get(campaign=campaign)
    assert (execution.source, execution.status, execution.requested_by) == ("manual", "succeeded", alice)
    steps = list(execution.steps.values_list("name", "status"))
    assert steps == [("prepare_image", "succeeded"), ("render_caption", "succeeded"), ("publish", "skipped")]
    assert "Nowhere to publish" in execution.steps.get(name="publish").detail
    assert execution.steps.get(name="render_caption").detail == "Our linen collection is here.\n\n#summer #linen"


def test_it_fails_without_an_image_or_an_openai_key_and_draws_no_placeholder(run_now, campaign):
    run_now(campaign)
    execution = CampaignExecution.objects.get()
    assert (execution.status, execution.error_category) == ("failed", "validation")
    assert "OPENAI_API_KEY" in execution.error_message
    assert "has no image to publish" in execution.error_message
    assert not campaign.images.exists()


def test_it_says_the_campaigns_only_image_is_a_placeholder_when_it_fails_for_that(run_now, campaign, alice_client):
    generation = campaign_services.image_generation_request(campaign=campaign, by=None)
    campaign_services.image_generation_run(generation_id=generation.pk)
    assert campaign.images.get().source == "placeholder"

    run_now(campaign)
    execution = CampaignExecution.objects.get()
    assert execution.status == "failed"
    assert "only placeholder images, which runs never publish," in execution.error_message
    page = alice_client.get(campaign.get_absolute_url()).content.decode()
    assert "Placeholder (never published)" in page
    assert "A placeholder, shown here only" in page


def test_it_generates_an_image_for_a_run_without_one(run_now, campaign, fake_openai):
    run_now(campaign)
    execution = CampaignExecution.objects.get()
    assert execution.status == "succeeded"
    assert campaign.images.get().source == "ai"


def test_it_says_on_the_page_that_there_is_nowhere_to_publish(alice_client, campaign):
    response = alice_client.get(campaign.get_absolute_url())
    assert b"Nowhere to publish yet" in response.content


def test_it_completes_a_draft_campaign_after_a_successful_run(run_now, campaign):
    add_image(campaign)
    run_now(campaign)
    campaign.refresh_from_db()
    assert campaign.status == "completed"


def test_it_refuses_to_run_an_archived_campaign(alice_client, alice_workspace):
    archived = CampaignFactory(workspace=alice_workspace, status="archived")
    response = alice_client.post(f"/campaigns/{archived.pk}/run/", follow=True)
    assert b"Archived campaigns cannot run" in response.content
    assert not CampaignExecution.objects.exists()


def test_it_publishes_through_the_campaigns_destination(run_now, campaign, destination):
    add_image(campaign)
    fake = destination(StepOutcome(detail="Published as 123"))
    run_now(campaign)
    execution = CampaignExecution.objects.get()
    assert execution.status == "succeeded"
    assert execution.steps.get(name="publish").detail == "Published as 123"
    assert fake.calls == 1


def test_it_fails_the_run_with_the_destinations_reason(run_now, campaign, destination):
    add_image(campaign)
    destination(StepFailed("Meta said no", category="provider"))
    run_now(campaign)
    execution = CampaignExecution.objects.get()
    assert (execution.status, execution.error_category, execution.error_message) == ("failed", "provider", "Meta said no")
    campaign.refresh_from_db()
    assert campaign.status == "failed"


def test_it_requeues_a_transient_failure_and_then_succeeds(campaign, destination):
    add_image(campaign)
    fake = destination(RetryLater("rate limited", countdown=30), StepOutcome(detail="ok"))
    execution = executions.execution_create(campaign=campaign)

    with pytest.raises(RetryLater):
        executions.execution_run(execution_id=execution.pk)
    execution.refresh_from_db()
    assert execution.status == "queued"
    assert execution.steps.get(name="publish").detail == "Will try again: rate limited"

    executions.execution_run(execution_id=execution.pk)
    execution.refresh_from_db()
    assert (execution.status, execution.attempts, fake.calls) == ("succeeded", 2, 2)


def test_it_gives_up_after_the_attempt_limit(campaign, destination):
    add_image(campaign)
    destination(*[RetryLater("still rate limited", countdown=1)] * 10)
    execution = executions.execution_create(campaign=campaign)
    for _ in range(executions.MAX_EXECUTION_ATTEMPTS):
        with pytest.raises(RetryLater):
            executions.execution_run(execution_id=execution.pk)

    executions.execution_run(execution_id=execution.pk)

    execution.refresh_from_db()
    assert execution.status == "failed"
    assert "Gave up after 5 attempts" in execution.error_message
    assert "still rate limited" in execution.error_message


def test_it_schedules_the_retry_with_the_countdown(campaign, destination, monkeypatch):
    from campaigns import tasks

    add_image(campaign)
    destination(RetryLater("rate limited", countdown=42))
    execution = executions.execution_create(campaign=campaign)
    scheduled = {}

    def fake_retry(*, countdown):
        scheduled["countdown"] = countdown
        return RuntimeError("retry scheduled")

    monkeypatch.setattr(tasks.run_execution, "retry", fake_retry)
    with pytest.raises(RuntimeError):
        tasks.run_execution.run(execution.pk)
    assert scheduled == {"countdown": 42}


def test_it_fails_the_run_when_a_step_crashes(run_now, campaign, destination):
    add_image(campaign)
    destination(ZeroDivisionError())
    run_now(campaign)
    execution = CampaignExecution.objects.get()
    assert (execution.status, execution.error_category) == ("failed", "internal")
    assert "ZeroDivisionError" in execution.error_message


def test_it_leaves_a_waiting_run_running_without_a_lease(run_now, campaign, destination):
    add_image(campaign)
    destination(StepOutcome(detail="Handed to n8n", waiting=True))
    run_now(campaign)
    execution = CampaignExecution.objects.get()
    assert (execution.status, execution.lease_expires_at) == ("running", None)
    assert execution.steps.get(name="publish").status == "waiting"


def test_it_finishes_a_waiting_run_from_a_callback_once(run_now, campaign, destination):
    add_image(campaign)
    destination(StepOutcome(detail="Handed to n8n", waiting=True))
    run_now(campaign)
    execution = CampaignExecution.objects.get()

    step = execution.steps.get(name="publish")
    executions.step_record_result(step, external_id="1789", outputs={"instagram_media_id": "1789"})
    assert executions.step_resume_from_callback(step=step, succeeded=True, message="Posted")
    assert not executions.step_resume_from_callback(step=step, succeeded=False, message="late")

    execution.refresh_from_db()
    assert (execution.status, execution.outputs["instagram_media_id"]) == ("succeeded", "1789")


def test_it_leaves_a_second_worker_nothing_to_claim(campaign):
    add_image(campaign)
    execution = executions.execution_create(campaign=campaign)  # the on_commit task never fires here
    executions.execution_run(execution_id=execution.pk)
    finished_at = CampaignExecution.objects.get().finished_at

    executions.execution_run(execution_id=execution.pk)

    execution.refresh_from_db()
    assert execution.attempts == 1
    assert execution.finished_at == finished_at


def test_it_resumes_a_run_whose_worker_died_without_redoing_finished_steps(campaign, destination):
    add_image(campaign)
    fake = destination(StepOutcome(detail="published"))
    execution = executions.execution_create(campaign=campaign)
    # A worker claimed it, finished the first two steps, then died mid-publish.
    CampaignExecution.objects.filter(pk=execution.pk).update(
        status="running", attempts=1, lease_expires_at=timezone.now() + executions.EXECUTION_LEASE
    )
    ExecutionStep.objects.filter(execution=execution, name__in=["prepare_image", "render_caption"]).update(status="succeeded")
    ExecutionStep.objects.filter(execution=execution, name="publish").update(status="running")

    executions.execution_run(execution_id=execution.pk)
    assert CampaignExecution.objects.get().status == "running"  # the lease still holds

    with time_machine.travel(timezone.now() + executions.EXECUTION_LEASE + timedelta(seconds=1)):
        executions.execution_run(execution_id=execution.pk)

    execution.refresh_from_db()
    assert (execution.status, execution.attempts) == ("succeeded", 2)
    assert fake.calls == 1
    assert not execution.campaign.generations.exists()


def test_it_has_the_quick_steps_and_the_publish_start_written_before_the_destination_is_called(campaign, destination):
    add_image(campaign)
    seen = {}

    class Watching(FakeDestination):
        def publish(self, *, execution, step, caption):
            seen.update(execution.steps.values_list("name", "status"))
            return super().publish(execution=execution, step=step, caption=caption)

    fake = destination()
    watching = Watching(StepOutcome(detail="published"))
    destinations._registry[fake.key] = watching

    execution = executions.execution_create(campaign=campaign)
    executions.execution_run(execution_id=execution.pk)

    assert seen == {"prepare_image": "succeeded", "render_caption": "succeeded", "publish": "running"}
    assert CampaignExecution.objects.get().status == "succeeded"


@pytest.fixture
def handed_images(destination):
    """The images the campaign's destination finds to publish, as it reads them during a run."""
    handed = []

    class Reading(FakeDestination):
        def publish(self, *, execution, step, caption):
            handed.extend(selectors.publishable_images(campaign=execution.campaign))
            return super().publish(execution=execution, step=step, caption=caption)

    fake = destination()
    destinations._registry[fake.key] = Reading(StepOutcome(detail="published"))
    return handed


def test_it_reads_the_campaigns_images_once_and_hands_them_to_the_destination(campaign, handed_images):
    first, second = add_image(campaign), add_image(campaign)
    execution = executions.execution_create(campaign=campaign)

    with CaptureQueriesContext(connection) as captured:
        executions.execution_run(execution_id=execution.pk)

    assert [image.pk for image in handed_images] == [first.pk, second.pk]
    [reading] = [query["sql"] for query in captured if '"campaigns_campaignimage"' in query["sql"]]
    if connection.vendor == "postgresql":  # read with the claim, in its round trip
        assert reading.startswith("WITH updated AS (UPDATE")


def test_it_hands_the_generated_image_to_the_destination_of_a_run_without_images(campaign, handed_images, fake_openai):
    execution = executions.execution_create(campaign=campaign)

    executions.execution_run(execution_id=execution.pk)

    assert [image.source for image in handed_images] == ["ai"]


def test_it_records_what_the_destination_hands_back_with_the_steps_finish(campaign, destination):
    add_image(campaign)
    destination(
        StepOutcome(
            detail="published", external_url="https://example.com/p/1", outputs={"post_id": "1"}, state={"reply_id": "9"}
        )
    )
    execution = executions.execution_create(campaign=campaign)

    executions.execution_run(execution_id=execution.pk)

    step = ExecutionStep.objects.get(execution=execution, name="publish")
    assert (step.status, step.external_url) == ("succeeded", "https://example.com/p/1")
    assert step.state["reply_id"] == "9"
    assert CampaignExecution.objects.get().outputs["post_id"] == "1"


def test_it_writes_the_last_steps_finish_with_the_runs_in_one_round_trip_on_postgresql(campaign, destination):
    add_image(campaign)
    campaign.status = "active"  # keeps its status: the run is finished by one statement
    campaign.save(update_fields=["status"])
    destination(StepOutcome(detail="published", external_url="https://example.com/p/1", state={"reply_id": "9"}))
    execution = executions.execution_create(campaign=campaign)

    with CaptureQueriesContext(connection) as captured:
        executions.execution_run(execution_id=execution.pk)

    statements = [query["sql"] for query in captured]
    after_publish_start = statements[max(i for i, sql in enumerate(statements) if '"status" = \'running\'' in sql) + 1 :]
    assert len(after_publish_start) == (1 if connection.vendor == "postgresql" else 2)
    step = ExecutionStep.objects.get(execution=execution, name="publish")
    assert (step.status, step.external_url, step.state["reply_id"]) == ("succeeded", "https://example.com/p/1", "9")
    assert CampaignExecution.objects.get().status == "succeeded"


class SecondFakeDestination(FakeDestination):
    key = "fake2"


def test_it_has_a_targets_finish_written_before_the_next_target_is_called(campaign, destination, monkeypatch):
    add_image(campaign)
    seen = {}

    class Watching(SecondFakeDestination):
        def publish(self, *, execution, step, caption):
            seen.update(execution.steps.filter(name="publish").values_list("destination", "status"))
            seen["first reply"] = execution.steps.get(destination="fake").state.get("reply_id")
            return super().publish(execution=execution, step=step, caption=caption)

    destination(StepOutcome(detail="published", state={"reply_id": "9"}))
    monkeypatch.setitem(destinations._registry, "fake2", Watching(StepOutcome(detail="published too")))
    CampaignTarget.objects.create(campaign=campaign, destination="fake2", object_id=campaign.workspace_id)
    execution = executions.execution_create(campaign=campaign)

    executions.execution_run(execution_id=execution.pk)

    assert seen == {"fake": "succeeded", "fake2": "running", "first reply": "9"}
    assert CampaignExecution.objects.get().status == "succeeded"


def test_it_keeps_the_last_finish_when_the_campaign_moves_with_the_run(campaign, destination):
    """The finish sent with the one-statement settling is kept when that settling finds the
    campaign has to move, and the run is finished under the lock."""
    add_image(campaign)
    destination(StepOutcome(detail="published", state={"reply_id": "9"}))
    execution = executions.execution_create(campaign=campaign)

    executions.execution_run(execution_id=execution.pk)

    step = ExecutionStep.objects.get(execution=execution, name="publish")
    assert (step.status, step.state["reply_id"]) == ("succeeded", "9")
    assert CampaignExecution.objects.get().status == "succeeded"
    campaign.refresh_from_db()
    assert campaign.status == "completed"


def test_it_requeues_stale_runs(campaign, django_capture_on_commit_callbacks):
    add_image(campaign)
    execution = executions.execution_create(campaign=campaign)
    CampaignExecution.objects.filter(pk=execution.pk).update(status="running", attempts=1, lease_expires_at=timezone.now() - timedelta(minutes=1))

    with django_capture_on_commit_callbacks(execute=True):
        assert executions.execution_recover_stale() == 1

    assert CampaignExecution.objects.get().status == "succeeded"


def test_it_requeues_a_queued_run_whose_task_was_lost(campaign, django_capture_on_commit_callbacks):
    add_image(campaign)
    executions.execution_create(campaign=campaign)
    with time_machine.travel(timezone.now() + timedelta(minutes=16)):
        with django_capture_on_commit_callbacks(execute=True):
            assert executions.execution_recover_stale() == 1
    assert CampaignExecution.objects.get().status == "succeeded"


def test_it_cancels_a_waiting_run(alice_client, run_now, campaign, destination):
    add_image(campaign)
    destination(StepOutcome(detail="Handed over", waiting=True))
    run_now(campaign)
    execution = CampaignExecution.objects.get()
    alice_client.post(f"/campaigns/{campaign.pk}/runs/{execution.pk}/cancel/")
    execution.refresh_from_db()
    assert execution.status == "cancelled"


def test_it_polls_the_history_only_while_a_run_is_in_progress(alice_client, run_now, campaign, destination):
    add_image(campaign)
    destination(StepOutcome(detail="Handed over", waiting=True))
    run_now(campaign)
    assert b'hx-trigger="every 2s"' in alice_client.get(campaign.get_absolute_url()).content
    fragment = alice_client.get(f"/campaigns/{campaign.pk}/executions/", HTTP_HX_REQUEST="true")
    assert b"<html" not in fragment.content and b"Waiting" in fragment.content
    # The answer replaces the polling element: it must poll on while the run waits...
    assert b'id="executions"' in fragment.content and b'hx-trigger="every 2s"' in fragment.content

    CampaignExecution.objects.update(status="succeeded", finished_at=timezone.now())
    finished = alice_client.get(f"/campaigns/{campaign.pk}/executions/", HTTP_HX_REQUEST="true")
    # ...and stop once it is done.
    assert b'id="executions"' in finished.content and b"hx-trigger" not in finished.content


def test_it_polls_a_runs_page_until_the_run_is_finished(alice_client, run_now, campaign, destination):
    add_image(campaign)
    destination(StepOutcome(detail="Handed over", waiting=True))
    run_now(campaign)
    execution = CampaignExecution.objects.get()

    waiting = alice_client.get(execution.get_absolute_url(), HTTP_HX_REQUEST="true")
    assert b"<html" not in waiting.content
    assert b'id="execution"' in waiting.content and b'hx-trigger="every 2s"' in waiting.content

    CampaignExecution.objects.update(status="succeeded", finished_at=timezone.now())
    finished = alice_client.get(execution.get_absolute_url(), HTTP_HX_REQUEST="true")
    assert b'id="execution"' in finished.content and b"hx-trigger" not in finished.content


def test_it_keeps_a_published_run_succeeded_when_only_a_follow_up_gives_up(campaign, destination):
    add_image(campaign)
    destination(*[RetryLater("comment rate limited", countdown=1)] * 10)
    execution = executions.execution_create(campaign=campaign)
    execution.steps.filter(name="publish").update(external_id="1790")
    for _ in range(executions.MAX_EXECUTION_ATTEMPTS):
        with pytest.raises(RetryLater):
            executions.execution_run(execution_id=execution.pk)

    executions.execution_run(execution_id=execution.pk)

    execution.refresh_from_db()
    assert execution.status == "succeeded"
    assert execution.error_message.startswith("Published; a follow-up gave up")


def test_it_shows_a_steps_duration_in_seconds_on_the_run_page(alice_client, alice_workspace):
    from datetime import timedelta

    from django.utils import timezone

    from campaigns.models import CampaignExecution
    from tests.factories import CampaignFactory

    campaign = CampaignFactory(workspace=alice_workspace)
    execution = CampaignExecution.objects.create(workspace=alice_workspace, campaign=campaign, source="manual")
    start = timezone.now()
    execution.steps.create(position=0, name="publish", status="succeeded", started_at=start, finished_at=start + timedelta(seconds=77))
    page = alice_client.get(execution.get_absolute_url()).content.decode()
    assert "took 1 min 17 s" in page


def test_it_times_every_step_that_ran_and_no_step_that_did_not(campaign, destination):
    """Quick local steps are written once, on finishing, and still get their start; a publish step
    is marked running (with its start) before it reaches outside; a step skipped unrun has none."""
    add_image(campaign)
    seen = {}

    def publish(*, execution, step, caption):
        seen["publish"] = ExecutionStep.objects.values_list("status", "started_at").get(pk=step.pk)
        return StepOutcome(detail="ok")

    fake = destination()
    fake.publish = publish
    execution = executions.execution_create(campaign=campaign)
    executions.execution_run(execution_id=execution.pk)
    assert seen["publish"][0] == "running" and seen["publish"][1] is not None
    for step in execution.steps.all():
        assert step.status == "succeeded" and step.started_at <= step.finished_at, step.name

    failing = CampaignFactory(workspace=campaign.workspace, caption="x" * 2201)
    add_image(failing)
    execution = executions.execution_create(campaign=failing)
    executions.execution_run(execution_id=execution.pk)
    caption, publish_step = execution.steps.filter(name__in=["render_caption", "publish"]).order_by("position")
    assert caption.status == "failed" and caption.started_at is not None
    assert publish_step.status == "skipped" and publish_step.started_at is None


RUN_UPDATE = re.compile(r'(^|; )UPDATE "campaigns_campaignexecution"')


def _settle_queries(captured) -> list[str]:
    """The statements of a run's settling: after the last write of a step, or from it on when it
    is the settling's own (on PostgreSQL the last finish is sent with it)."""
    statements = [query["sql"] for query in captured]
    last_step_write = max(i for i, sql in enumerate(statements) if 'UPDATE "campaigns_executionstep"' in sql)
    return statements[last_step_write if RUN_UPDATE.search(statements[last_step_write]) else last_step_write + 1 :]


@pytest.mark.parametrize("status", ["active", "completed"])
def test_it_finishes_the_run_of_a_campaign_that_keeps_its_status_in_one_statement(campaign, destination, status):
    add_image(campaign)
    campaign.status = status
    campaign.save(update_fields=["status"])
    destination(StepOutcome(detail="published"))
    execution = executions.execution_create(campaign=campaign)

    with CaptureQueriesContext(connection) as captured:
        executions.execution_run(execution_id=execution.pk)

    [settling] = _settle_queries(captured)
    assert RUN_UPDATE.search(settling) and "FOR UPDATE" not in settling
    execution.refresh_from_db()
    assert (execution.status, execution.lease_expires_at) == ("succeeded", None)
    assert execution.finished_at is not None
    campaign.refresh_from_db()
    assert campaign.status == status


def test_it_moves_a_campaign_its_status_changed_to_while_the_run_ran(campaign, destination):
    """Active when the run was claimed, a draft again when it finishes: the draft completes."""
    add_image(campaign)
    campaign.status = "active"
    campaign.save(update_fields=["status"])

    class Drafting(FakeDestination):
        def publish(self, *, execution, step, caption):
            type(campaign).objects.filter(pk=campaign.pk).update(status="draft")
            return super().publish(execution=execution, step=step, caption=caption)

    fake = destination()
    destinations._registry[fake.key] = Drafting(StepOutcome(detail="published"))
    execution = executions.execution_create(campaign=campaign)

    executions.execution_run(execution_id=execution.pk)

    assert CampaignExecution.objects.get().status == "succeeded"
    campaign.refresh_from_db()
    assert campaign.status == "completed"


def test_it_leaves_a_run_cancelled_while_it_ran_cancelled(campaign, destination, alice):
    add_image(campaign)
    campaign.status = "active"
    campaign.save(update_fields=["status"])

    class Cancelling(FakeDestination):
        def publish(self, *, execution, step, caption):
            executions.execution_cancel(execution=CampaignExecution.objects.get(pk=execution.pk), by=alice)
            return super().publish(execution=execution, step=step, caption=caption)

    fake = destination()
    destinations._registry[fake.key] = Cancelling(StepOutcome(detail="published"))
    execution = executions.execution_create(campaign=campaign)

    executions.execution_run(execution_id=execution.pk)

    execution.refresh_from_db()
    assert execution.status == "cancelled"
    assert execution.error_message.startswith("Cancelled by")
