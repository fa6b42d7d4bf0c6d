"""Runs of campaigns: creating an execution with its steps, claiming and running it, its publish
steps, retries, callbacks that finish a waiting step, cancelling, and recovering runs whose worker
or task was lost.

"Run now", the API, triggers and the schedule dispatcher all create runs through
``execution_create`` / ``executions_create``; the Celery task ``run_execution`` runs them here.
Campaign writes (create, edit, images, status) are in ``services``.
"""

import logging
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Model, Q
from django.utils import timezone

from billing.plans import Limit
from billing.services import limit_check, run_refusal
from integrations.http import ProviderError
from integrations.openai import client as openai_client
from marketing import outbox
from marketing.compiled import Of, insert_row, rows, update_row, update_rows, updated_rows
from marketing.models import User

from . import destinations
from .approval import approval_refusal
from .captions import caption_problems, render_caption
from .destinations import RetryLater, StepFailed, StepOutcome
from .models import (
    IN_FLIGHT,
    MANUAL_SOURCES,
    Campaign,
    CampaignExecution,
    CampaignImage,
    CampaignStatus,
    CampaignTarget,
    ErrorCategory,
    ExecutionSource,
    ExecutionStatus,
    ExecutionStep,
    GenerationStatus,
    ImageGeneration,
    Schedule,
    StepStatus,
)
from .selectors import images_read, publishable_images
from .services import _failure_reason, campaign_transition, image_generation_run, image_prompt

logger = logging.getLogger(__name__)

# A worker holds an execution this long per step; past it the run counts as abandoned.
EXECUTION_LEASE = timedelta(minutes=10)
# The lease is renewed after a step once this much of it has gone, so every step starts with
# nearly the whole lease, without a write after each of a run's quick steps.
LEASE_RENEW_AFTER = timedelta(seconds=15)
# Claims of one execution (first run, retries, redeliveries) before it is failed for good.
MAX_EXECUTION_ATTEMPTS = 5

PREPARE_STEPS = ("prepare_image", "render_caption")


def step_plan(targets: list[tuple[str, int]]) -> list[tuple[str, str, int | None]]:
    """A run's steps in order, as (name, destination, object id): prepare the image and the
    caption, then one publish step per target, ``targets`` being the campaign's (destination,
    object id) pairs in the order they were added. A campaign without targets gets one publish
    step, which says there is nowhere to publish.
    """
    plan: list[tuple[str, str, int | None]] = [(name, "", None) for name in PREPARE_STEPS]
    plan += [("publish", destination, object_id) for destination, object_id in targets] or [("publish", "", None)]
    return plan


class RunInProgress(ValidationError):
    """A manual run of the campaign is already queued or running; ``execution`` is that run."""

    def __init__(self, execution: CampaignExecution | None) -> None:
        super().__init__(
            "A run of this campaign is already queued or running. Wait for it to finish, or cancel it.",
            code="run_in_progress",
        )
        self.execution = execution


@transaction.atomic
def execution_create(
    *, campaign: Campaign, source: str = ExecutionSource.MANUAL, by: User | None = None
) -> CampaignExecution:
    """Queues one run of the campaign; a Celery task runs its steps once the transaction commits.

    Raises RunInProgress for a second manual run while one is queued or running: the database's
    ``execution_one_manual_in_flight`` constraint decides, so two requests at once cannot both pass.
    """
    if campaign.status == CampaignStatus.ARCHIVED:
        raise ValidationError("Archived campaigns cannot run. Restore it to a draft first.")
    if refusal := approval_refusal(campaign):
        raise ValidationError(refusal, code="not_approved")
    if source != ExecutionSource.SCHEDULE:
        limit_check(workspace=campaign.workspace_id, limit=Limit.RUNS_PER_MONTH)
    execution = CampaignExecution(workspace_id=campaign.workspace_id, campaign=campaign, source=source, requested_by=by)
    created = executions_create(executions=[execution])
    if not created:
        running = campaign.executions.filter(source__in=MANUAL_SOURCES, status__in=IN_FLIGHT).first()
        raise RunInProgress(running)
    return created[0]


@transaction.atomic
def executions_create(*, executions: list[CampaignExecution]) -> list[CampaignExecution]:
    """Inserts unsaved runs with their steps and queues them once the transaction commits.

    Each run's ``campaign`` must be set. The steps of all the runs take one query for the
    campaigns' targets and one insert (a COPY on PostgreSQL when there are many).

    Runs the database refuses (a planned time that already has its run, a second manual run in
    flight) are left out of the list returned; the others are kept.
    """
    try:
        with transaction.atomic():
            if connection.vendor == "postgresql" and len(executions) > 1:
                _executions_insert(executions)
            else:
                CampaignExecution.objects.bulk_create(executions)
    except IntegrityError:
        executions = _create_one_by_one(executions)
    targets: dict[int, list[tuple[str, int]]] = {}
    rows = CampaignTarget.objects.filter(campaign_id__in={e.campaign_id for e in executions}).order_by("pk")
    for campaign_id, destination, object_id in rows.values_list("campaign_id", "destination", "object_id"):
        targets.setdefault(campaign_id, []).append((destination, object_id))
    plans = [(execution, step_plan(targets.get(execution.campaign_id, []))) for execution in executions]
    if connection.vendor == "postgresql" and len(executions) > 1:
        _steps_copy(plans)
    else:
        ExecutionStep.objects.bulk_create(
            ExecutionStep(execution=execution, position=position, name=name, destination=destination, object_id=object_id)
            for execution, plan in plans
            for position, (name, destination, object_id) in enumerate(plan)
        )
    ids = [execution.pk for execution in executions]
    if ids:
        transaction.on_commit(lambda: _queue_many(ids))
    return executions


def _executions_insert(executions: list[CampaignExecution]) -> None:
    """``bulk_create(executions)`` as one ``INSERT … SELECT FROM unnest(…)``, one array per column.

    ``bulk_create`` prepares every value of every row through its field and builds a VALUES
    tuple per row: a fifth of a dispatcher's CPU for a batch of a thousand runs. The values here
    are the instances' own, after each field's ``pre_save`` (the queued time), and psycopg sends
    them as typed arrays. The new ids are matched to the runs by their UUID.
    """
    meta = CampaignExecution._meta
    fields = [field for field in meta.concrete_fields if not field.primary_key]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields)
    arrays = ", ".join(f"%s::{field.db_type(connection)}[]" for field in fields)
    values = [[field.pre_save(execution, True) for execution in executions] for field in fields]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(meta.db_table)} ({columns}) SELECT * FROM unnest({arrays}) RETURNING id, uuid", values
        )
        ids = {uuid: pk for pk, uuid in cursor.fetchall()}
    for execution in executions:
        execution.pk = ids[execution.uuid]
        execution._state.adding, execution._state.db = False, connection.alias


# The columns a run's plan fills in; every other column of a new step takes the model's default.
_PLANNED_COLUMNS = ("execution", "position", "name", "destination", "object_id")


def _steps_copy(plans: list[tuple[CampaignExecution, list[tuple[str, str, int | None]]]]) -> None:
    """Inserts the planned steps of many runs with one COPY: for a dispatch batch of a thousand
    runs, about ten times quicker than the INSERT that ``bulk_create`` builds value by value."""
    meta = ExecutionStep._meta
    fields = [meta.get_field(name) for name in _PLANNED_COLUMNS]
    defaults = [f for f in meta.concrete_fields if not f.primary_key and f.name not in _PLANNED_COLUMNS]
    fixed = tuple(f.get_db_prep_save(f.get_default(), connection) for f in defaults)
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields + defaults)
    with connection.cursor() as cursor, cursor.copy(f"COPY {connection.ops.quote_name(meta.db_table)} ({columns}) FROM STDIN") as copy:
        for execution, plan in plans:
            for position, (name, destination, object_id) in enumerate(plan):
                copy.write_row((execution.pk, position, name, destination, object_id, *fixed))


def _create_one_by_one(executions: list[CampaignExecution]) -> list[CampaignExecution]:
    created = []
    for execution in executions:
        try:
            with transaction.atomic():
                execution.save(force_insert=True)
            created.append(execution)
        except IntegrityError:
            execution.pk = None
            logger.warning(
                "run refused by a uniqueness rule",
                extra={"campaign_id": execution.campaign_id, "source": execution.source},
            )
    return created


def _queue_many(execution_ids: list[int]) -> None:
    from .tasks import run_execution

    outbox.send_many(run_execution, [(execution_id,) for execution_id in execution_ids])


def _claim(execution_id: int) -> tuple[datetime, CampaignExecution, list[ExecutionStep]] | None:
    """Compare-and-set: only one worker at a time holds a queued (or abandoned) execution.

    Returns when the lease it took starts, the execution (with its campaign and workspace) and
    its steps in order, or None if another worker holds the execution. The campaign's images
    are read with them and kept for the run's steps (``selectors.images_read``). On PostgreSQL the claim
    and the reads are one round trip (``marketing.compiled.updated_rows``).
    """
    now = timezone.now()
    # The statement written out: the ORM's update() took more CPU to build it than the database to run it.
    meta = CampaignExecution._meta
    at = meta.get_field("lease_expires_at").get_db_prep_value
    claimed, (steps, images) = updated_rows(
        f"UPDATE {connection.ops.quote_name(meta.db_table)} SET status = %s, started_at = COALESCE(started_at, %s), "
        "lease_expires_at = %s, attempts = attempts + 1 "
        "WHERE id = %s AND (status = %s OR (status = %s AND lease_expires_at < %s))",
        [
            ExecutionStatus.RUNNING,
            at(now, connection),
            at(now + EXECUTION_LEASE, connection),
            execution_id,
            ExecutionStatus.QUEUED,
            ExecutionStatus.RUNNING,
            at(now, connection),
        ],
        CampaignExecution,
        {"pk": execution_id},
        related=("campaign", "workspace"),
        then=(
            (ExecutionStep, {"execution": execution_id}, ("position",)),
            (CampaignImage, {"campaign": Of(CampaignExecution, execution_id, "campaign")}, ("position", "id")),
        ),
    )
    if not claimed:
        return None
    [execution] = claimed
    for step in steps:
        step.execution = execution
    images_read(campaign=execution.campaign, images=images)
    return now, execution, steps


def execution_run(*, execution_id: int) -> CampaignExecution | None:
    """Runs (or resumes) an execution's steps. Safe to call twice: a second caller finds nothing to claim.

    Steps already settled (done, skipped, failed) or waiting for a callback are left alone, so a
    redelivered task or a retry resumes where the last one stopped and never publishes to a target
    twice. Publish steps are independent: one target failing or retrying does not stop the others.
    Raises RetryLater when a step failed transiently; the task schedules the retry.
    """
    claim = _claim(execution_id)
    if claim is None:
        return CampaignExecution.objects.filter(pk=execution_id).first()
    leased_at, execution, steps = claim
    if execution.attempts > MAX_EXECUTION_ATTEMPTS:
        return _execution_give_up(execution, steps)
    refusal = run_refusal(workspace_id=execution.workspace_id) if execution.attempts <= 1 else None
    if refusal:
        _execution_finish(execution, ExecutionStatus.CANCELLED, category=ErrorCategory.QUOTA, message=refusal)
        return execution
    # Checked on every attempt: content changed while a run waited to retry is not approved either.
    if execution.workspace.require_approval and (refusal := approval_refusal(execution.campaign)):
        _execution_finish(execution, ExecutionStatus.CANCELLED, category=ErrorCategory.VALIDATION, message=refusal)
        return execution
    context: dict[str, str] = {}
    retry: RetryLater | None = None
    # Finishes of quick local steps, written with the run's next write (see _step_start).
    held: list[tuple[ExecutionStep, dict]] = []
    for step in steps:
        if step.is_settled or step.status == StepStatus.WAITING:
            context.update(step.state.get("context", {}))
            if step.name in PREPARE_STEPS and step.status == StepStatus.FAILED:
                break
            continue
        if step.name in PREPARE_STEPS and retry is not None:
            break
        try:
            outcome = _run_step(execution, step, context, held)
        except StepFailed as failure:
            _write_held(held)
            _step_finish(step, StepStatus.FAILED, failure.message, category=failure.category, ran=True)
            if step.name in PREPARE_STEPS:
                _skip_rest(steps, step)
                break
            continue
        except RetryLater as later:
            _write_held(held)
            _step_set(step, status=StepStatus.PENDING, detail=f"Will try again: {later.message}")
            if retry is None or later.countdown < retry.countdown:
                retry = later
            if step.name in PREPARE_STEPS:
                break
            continue
        except Exception as error:  # noqa: BLE001 - a bug must fail the step, never leave it running
            logger.exception("execution step crashed", extra={"execution_id": execution.pk, "step": step.name})
            message = f"Internal error in step '{step.label}': {error.__class__.__name__}."
            _write_held(held)
            _step_finish(step, StepStatus.FAILED, message, category=ErrorCategory.INTERNAL, ran=True)
            if step.name in PREPARE_STEPS:
                _skip_rest(steps, step)
                break
            continue
        if outcome.waiting:
            _write_held(held)
            # Only a step still running becomes waiting: a fast callback may have finished it already.
            ExecutionStep.objects.filter(pk=step.pk, status=StepStatus.RUNNING).update(
                status=StepStatus.WAITING, detail=outcome.detail
            )
            step.status = StepStatus.WAITING
        else:
            status = StepStatus.SKIPPED if outcome.skipped else StepStatus.SUCCEEDED
            # Held for the run's next write, which comes before any other outside call (the next
            # step's start) or is the settling: the ids the outcome holds are durable before
            # anything else could repeat the call that made them.
            _step_finish(step, status, outcome.detail, context, ran=True, result=outcome, held=held)
        if timezone.now() - leased_at > LEASE_RENEW_AFTER:
            leased_at = timezone.now()
            update_row(CampaignExecution, execution.pk, {"lease_expires_at": leased_at + EXECUTION_LEASE})
    if retry is not None:
        _write_held(held)
        # The lease now marks when the retry is overdue, so a lost retry gets recovered.
        CampaignExecution.objects.filter(pk=execution.pk).update(
            status=ExecutionStatus.QUEUED,
            lease_expires_at=timezone.now() + timedelta(seconds=retry.countdown) + EXECUTION_LEASE,
            error_message=retry.message[:2000],
        )
        raise retry
    _execution_settle(execution, steps=steps, held=held)
    return execution


def _skip_rest(steps: list[ExecutionStep], failed: ExecutionStep) -> None:
    for step in steps:
        if step.position > failed.position and not step.is_settled and step.status != StepStatus.WAITING:
            _step_finish(step, StepStatus.SKIPPED, f"Not run: “{failed.label}” failed.")


def _execution_give_up(execution: CampaignExecution, steps: list[ExecutionStep]) -> CampaignExecution:
    """Fails the steps that kept failing; a target whose post is already live counts as published."""
    reason = f"Gave up after {MAX_EXECUTION_ATTEMPTS} attempts. {execution.error_message}".strip()
    note = ""
    for step in steps:
        if step.is_settled or step.status == StepStatus.WAITING:
            continue
        if step.external_id:
            # The post is live; only a follow-up (the first comment) kept failing.
            note = f"Published; a follow-up gave up after {MAX_EXECUTION_ATTEMPTS} attempts. {execution.error_message}"
            _step_finish(step, StepStatus.SUCCEEDED, note.strip())
        else:
            _step_finish(step, StepStatus.FAILED, reason, category=execution.error_category or ErrorCategory.WORKER)
    _execution_settle(execution, note=note.strip())
    return execution


def _run_step(
    execution: CampaignExecution, step: ExecutionStep, context: dict[str, str], held: list[tuple[ExecutionStep, dict]]
) -> StepOutcome:
    # A step is marked running only before work that takes time or reaches outside; a quick local
    # step is written once, when it finishes (with its start).
    campaign = execution.campaign
    if step.name == "prepare_image":
        return _prepare_image(execution, step, held)
    if step.name == "render_caption":
        problems = caption_problems(caption=campaign.caption, hashtags=campaign.hashtags)
        if problems:
            raise StepFailed(" ".join(problems.values()), category=ErrorCategory.VALIDATION)
        context["caption"] = render_caption(caption=campaign.caption, hashtags=campaign.hashtags)
        return StepOutcome(detail=context["caption"] or "(no caption)")
    if step.name == "publish":
        if not step.destination:
            return StepOutcome(
                detail="Nowhere to publish: connect an Instagram account or an n8n workflow to this campaign.",
                skipped=True,
            )
        caption = context.get("caption", render_caption(caption=campaign.caption, hashtags=campaign.hashtags))
        _step_start(step, held)
        return destinations.publish(execution=execution, step=step, caption=caption)
    raise StepFailed(f"Unknown step {step.name!r}.", category=ErrorCategory.INTERNAL)


# Waits between a run's attempts to generate its image (OpenAI down or its circuit open).
IMAGE_RETRY_BACKOFF = (30, 60, 120, 240, 480)


def _step_start(step: ExecutionStep, held: list[tuple[ExecutionStep, dict]]) -> None:
    """Marks the step running before it reaches outside, in one transaction with the finishes of
    the quick steps before it: all of it is durable before the outside call, at one commit (and
    on PostgreSQL in one round trip)."""
    # The first attempt's start is kept, so a step's duration spans its retries; the note of
    # the last retry goes, since the step is trying again now.
    running = {"status": StepStatus.RUNNING, "started_at": step.started_at or timezone.now(), "detail": ""}
    for name, value in running.items():
        setattr(step, name, value)
    held.append((step, running))
    _write_held(held)


def _write_held(held: list[tuple[ExecutionStep, dict]]) -> None:
    """Writes the held finishes, in one transaction. Lost with a dead worker, a quick local
    step's costs nothing (the next attempt runs it again); a step that reached outside is
    finished again by its destination from the state it saved on the way."""
    update_rows(_held_rows(held))
    held.clear()


def _held_rows(held: list[tuple[ExecutionStep, dict]]) -> list[tuple[type[ExecutionStep], int, dict]]:
    return [(ExecutionStep, step.pk, fields) for step, fields in held]


def _prepare_image(
    execution: CampaignExecution, step: ExecutionStep, held: list[tuple[ExecutionStep, dict]]
) -> StepOutcome:
    """Uses the campaign's images, or generates one. A run never publishes a placeholder: while
    OpenAI fails the run retries with backoff, and it fails with the reason when it gives up."""
    campaign = execution.campaign
    count = len(publishable_images(campaign=campaign, keep=True))
    if count:
        return StepOutcome(detail=f"Using the campaign's {count} image{'s' if count > 1 else ''}.")
    _step_start(step, held)
    generation = ImageGeneration.objects.create(campaign=campaign, prompt=image_prompt(campaign), model=_image_model())
    try:
        generation = image_generation_run(generation_id=generation.pk, fallback=False)
    except openai_client.NotConfigured:
        # None is publishable, so any image the campaign has is a placeholder: say so, or the
        # marketer looking at it on the page reads "no image" as a fault.
        has = "only placeholder images, which runs never publish," if campaign.images.exists() else "no image to publish"
        raise StepFailed(
            f"The campaign has {has} and OpenAI is not configured (OPENAI_API_KEY): upload an image or set the key.",
            category=ErrorCategory.VALIDATION,
        ) from None
    except ProviderError as error:
        reason = f"No image could be generated: {error.message.rstrip('.')}."
        if error.retryable:
            wait = IMAGE_RETRY_BACKOFF[min(execution.attempts, len(IMAGE_RETRY_BACKOFF)) - 1]
            raise RetryLater(reason, countdown=max(wait, error.retry_after or 0)) from None
        raise StepFailed(reason, category=ErrorCategory.PROVIDER) from None
    except ValidationError as error:
        raise StepFailed(_failure_reason(error), category=ErrorCategory.PROVIDER) from None
    if generation.status == GenerationStatus.REFUSED:
        raise StepFailed(generation.fallback_reason, category=ErrorCategory.VALIDATION)
    if generation.image_id is None:
        raise StepFailed(generation.fallback_reason or "No image could be made.", category=ErrorCategory.INTERNAL)
    return StepOutcome(detail=f"Generated an image with {generation.model}.")


def _image_model() -> str:
    from django.conf import settings

    return settings.OPENAI_IMAGE_MODEL


def _step_set(step: ExecutionStep, **fields) -> None:
    for name, value in fields.items():
        setattr(step, name, value)
    update_row(ExecutionStep, step.pk, fields)


def _step_finish(
    step: ExecutionStep,
    status: str,
    detail: str,
    context: dict[str, str] | None = None,
    *,
    category: str = "",
    ran: bool = False,
    result: StepOutcome | None = None,
    held: list[tuple[ExecutionStep, dict]] | None = None,
) -> None:
    """``ran``: the step was run just now (a quick one was not marked running, so it gets its start here).
    ``result``: the outcome whose ids and state are recorded in the same write. ``held``: the
    write waits there for the run's next one (a quick local step's finish)."""
    recorded = {}
    if result is not None:
        recorded = _result_fields(step, external_url=result.external_url, outputs=result.outputs, state=result.state)
    state = recorded.pop("state", step.state)
    state = {**state, "context": dict(context)} if context else state
    now = timezone.now()
    fields = {
        "status": status,
        "detail": detail[:5000],
        "started_at": step.started_at or (now if ran else None),
        "finished_at": now,
        "state": state,
        "error_category": category,
        **recorded,
    }
    if held is None:
        _step_set(step, **fields)
    else:
        for name, value in fields.items():
            setattr(step, name, value)
        held.append((step, fields))
    if step.name == "publish" and step.destination and status in (StepStatus.SUCCEEDED, StepStatus.FAILED):
        _record_publish(step, ok=status == StepStatus.SUCCEEDED)


def _record_publish(step: ExecutionStep, *, ok: bool) -> None:
    """Counts a finished publish for its destination (monitoring's publish success rate)."""
    from monitoring.hooks import publish_finished

    from .destinations import destination_label

    publish_finished(destination=f"{destination_label(step.destination)} #{step.object_id}", kind=step.destination, ok=ok)


def step_save_state(step: ExecutionStep, *, with_rows: tuple[tuple[type, object, dict], ...] = (), **values) -> None:
    """Records what a step did with an outside service at once, so a rerun can resume from it.

    ``with_rows``: a destination's own writes, ``(model, pk, fields)``, made in the same
    transaction (on PostgreSQL the same round trip, ``update_rows``).
    """
    step.state = {**step.state, **values}
    update_rows([(ExecutionStep, step.pk, {"state": step.state}), *with_rows])


def step_record_result(
    step: ExecutionStep,
    *,
    external_id: str = "",
    external_url: str = "",
    outputs: dict[str, str] | None = None,
    state: dict | None = None,
    with_rows: tuple[tuple[type, object, dict], ...] = (),
    with_new: Model | None = None,
) -> None:
    """Records, at once, what the destination called the result (a media id, a post URL...).

    ``outputs`` are extra ids a destination reports (an n8n workflow that posted to Instagram says
    which post); ``CampaignExecution.outputs`` gathers them for the API and the run page. ``state``:
    values saved with them, as ``step_save_state`` would, in the same write. ``with_rows`` (updates,
    as for ``step_save_state``) and ``with_new`` (a row to insert): a destination's own writes,
    made in the same transaction (on PostgreSQL the same round trip).
    """
    fields = _result_fields(step, external_id=external_id, external_url=external_url, outputs=outputs, state=state)
    for name, value in fields.items():
        setattr(step, name, value)
    updates = [*([(ExecutionStep, step.pk, fields)] if fields else []), *with_rows]
    if with_new is not None:
        insert_row(with_new, first=updates)
    else:
        update_rows(updates)


def _result_fields(
    step: ExecutionStep,
    *,
    external_id: str = "",
    external_url: str = "",
    outputs: dict[str, str] | None = None,
    state: dict | None = None,
) -> dict:
    fields: dict = {}
    if external_id:
        fields["external_id"] = str(external_id)[:64]
    if external_url:
        fields["external_url"] = str(external_url)[:500]
    if outputs:
        kept = {str(k)[:64]: str(v)[:500] for k, v in outputs.items() if isinstance(v, (str, int)) and v != ""}
        state = {**(state or {}), "outputs": {**step.state.get("outputs", {}), **kept}}
    if state:
        fields["state"] = {**step.state, **state}
    return fields


# How a finished run moves a campaign that is not on a recurring schedule or trigger.
_SETTLED_STATUS = {ExecutionStatus.SUCCEEDED: CampaignStatus.COMPLETED, ExecutionStatus.FAILED: CampaignStatus.FAILED}
# Campaigns in these statuses take their finished run's outcome; active (recurring), paused and
# archived campaigns keep theirs, one run does not end them.
_MOVED_BY_RUNS = (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED, CampaignStatus.COMPLETED, CampaignStatus.FAILED)


def _execution_settle(
    execution: CampaignExecution,
    *,
    note: str = "",
    steps: list[ExecutionStep] | None = None,
    held: list[tuple[ExecutionStep, dict]] | None = None,
) -> bool:
    """Finishes the run once no step is left to run or waiting; True if it finished now.

    Failed if any step failed (with the first failure's category), else succeeded. A step still
    waiting for a callback leaves the run running, with no worker holding it.

    ``steps``: the run's steps as the worker holding it left them. They are read again when not
    given or when one of them was waiting, since only a waiting step changes under another hand
    (a callback; a cancel finishes the run, which the run's row shows). ``held``: finishes of
    steps not yet written, written here first.

    When the steps are known and none waits, and the campaign keeps its status, the run is
    finished by one conditional UPDATE (``_execution_finish_alone``), with the held finishes,
    without the transaction and lock that moving the campaign needs.
    """
    held = held if held is not None else []
    if steps is not None:
        outcome = _outcome(steps, note)
        if outcome is not None and _execution_finish_alone(execution, *outcome, held=held):
            return True
    with transaction.atomic():
        # The campaign's status comes with the lock, fresh, for _execution_finish; only the run is locked.
        [locked] = rows(CampaignExecution, {"pk": execution.pk}, related=("campaign",), lock=True)
        _write_held(held)
        if locked.is_finished:
            return False
        if steps is None or any(step.status == StepStatus.WAITING for step in steps):
            steps = list(locked.steps.all())
        if any(step.status in (StepStatus.PENDING, StepStatus.RUNNING) for step in steps):
            return False
        if any(step.status == StepStatus.WAITING for step in steps):
            CampaignExecution.objects.filter(pk=locked.pk).update(lease_expires_at=None)
            return False
        status, category, message = _outcome(steps, note)
        _execution_finish(execution, status, category=category, message=message, campaign_status=locked.campaign.status)
        return True


def _outcome(steps: list[ExecutionStep], note: str) -> tuple[str, str, str] | None:
    """The finished run's status, error category and message, or None while a step is left."""
    if any(step.status in (StepStatus.PENDING, StepStatus.RUNNING, StepStatus.WAITING) for step in steps):
        return None
    failed = [step for step in steps if step.status == StepStatus.FAILED]
    if not failed:
        return ExecutionStatus.SUCCEEDED, "", note
    if len(failed) == 1:
        message = failed[0].detail
    else:
        message = " ".join(f"{step.label}: {step.detail}" for step in failed)
    published = [step.label for step in steps if step.name == "publish" and step.status == StepStatus.SUCCEEDED]
    if published:
        message += f" (Done: {', '.join(published)}.)"
    return ExecutionStatus.FAILED, failed[0].error_category or ErrorCategory.INTERNAL, message


def _finish_fields(status: str, category: str, message: str) -> dict:
    return {
        "status": status,
        "finished_at": timezone.now(),
        "lease_expires_at": None,
        "error_category": category,
        "error_message": message[:2000],
    }


def _set(execution: CampaignExecution, fields: dict) -> None:
    for name, value in fields.items():
        setattr(execution, name, value)


def _execution_finish_alone(
    execution: CampaignExecution, status: str, category: str, message: str, *, held: list[tuple[ExecutionStep, dict]]
) -> bool:
    """Finishes a running run in one statement if its campaign keeps its status; False, and
    the run left as it is, when the run is no longer running or its campaign has to move with it.
    ``held``: finishes written first either way, in the same transaction and round trip.

    The campaign's status is read in the same statement, so the choice is made on the status as
    committed when the run is finished, as the locked path reads it.
    """
    target = _SETTLED_STATUS.get(status)
    moving = [moved for moved in _MOVED_BY_RUNS if moved != target]
    campaigns = connection.ops.quote_name(Campaign._meta.db_table)
    fields = _finish_fields(status, category, message)
    finished = update_row(
        CampaignExecution,
        execution.pk,
        fields,
        where={"status": [ExecutionStatus.RUNNING, ExecutionStatus.QUEUED]},
        condition=(f"(SELECT status FROM {campaigns} WHERE id = campaign_id) NOT IN ({', '.join(['%s'] * len(moving))})", moving),
        first=_held_rows(held),
    )
    held.clear()
    if not finished:
        return False
    _set(execution, fields)
    return True


@transaction.atomic(savepoint=False)  # inside _execution_settle's transaction, a savepoint buys nothing
def _execution_finish(
    execution: CampaignExecution, status: str, *, category: str = "", message: str = "", campaign_status: str = ""
) -> None:
    """``campaign_status``: the campaign's status just read in this transaction, else it is read here."""
    fields = _finish_fields(status, category, message)
    updated = update_row(
        CampaignExecution, execution.pk, fields, where={"status": [ExecutionStatus.RUNNING, ExecutionStatus.QUEUED]}
    )
    _set(execution, fields)
    if not updated:
        return
    campaign = execution.campaign
    if campaign_status:
        campaign.status = campaign_status
    else:
        campaign.refresh_from_db(fields=["status"])
    target = _SETTLED_STATUS.get(status)
    if campaign.status == CampaignStatus.SCHEDULED and Schedule.objects.filter(
        campaign_id=campaign.pk, next_run_at__isnull=False
    ).exists():
        # A run outside the plan ("Run now", a trigger) leaves the planned run to happen.
        return
    if target and campaign.status in _MOVED_BY_RUNS and campaign.status != target:
        campaign_transition(campaign=campaign, to=target, via="task", note=f"Run {execution.uuid.hex[:8]} {status}")


def step_resume_from_callback(
    *,
    step: ExecutionStep,
    succeeded: bool,
    message: str,
    category: str = ErrorCategory.PROVIDER,
) -> bool:
    """Finishes a publish step that waited for an outside system, then the run if nothing else is left.

    False if the run had already finished or the step was no longer waiting (a late or repeated call).
    """
    with transaction.atomic():
        execution = CampaignExecution.objects.select_for_update().select_related("campaign").get(pk=step.execution_id)
        if execution.is_finished:
            return False
        finished = ExecutionStep.objects.filter(pk=step.pk, status=StepStatus.WAITING).update(
            status=StepStatus.SUCCEEDED if succeeded else StepStatus.FAILED,
            detail=(message or "")[:5000],
            finished_at=timezone.now(),
            error_category="" if succeeded else category,
        )
        if not finished:
            return False
        _execution_settle(execution)
    step.refresh_from_db()
    if step.destination:
        _record_publish(step, ok=succeeded)
    return True


@transaction.atomic
def execution_cancel(*, execution: CampaignExecution, by: User | None) -> CampaignExecution:
    if execution.is_finished:
        raise ValidationError("This run has already finished.")
    execution.steps.filter(status__in=[StepStatus.PENDING, StepStatus.RUNNING, StepStatus.WAITING]).update(
        status=StepStatus.SKIPPED, detail="Cancelled.", finished_at=timezone.now()
    )
    who = by.email if by else "the system"
    _execution_finish(execution, ExecutionStatus.CANCELLED, message=f"Cancelled by {who}.")
    return execution


# A queued run that no worker took within this time lost its task message.
LOST_TASK_AFTER = timedelta(minutes=15)


def execution_recover_stale() -> int:
    """Requeues runs whose worker died or whose task was lost; the claim limit fails them eventually."""
    now = timezone.now()
    stale = list(
        CampaignExecution.objects.filter(
            Q(status__in=[ExecutionStatus.RUNNING, ExecutionStatus.QUEUED], lease_expires_at__lt=now)
            | Q(status=ExecutionStatus.QUEUED, lease_expires_at__isnull=True, queued_at__lt=now - LOST_TASK_AFTER)
        ).values_list("pk", flat=True)[:500]
    )
    _queue_many(stale)
    if stale:
        logger.warning("requeued stale executions", extra={"count": len(stale)})
    return len(stale)


