"""Writes on campaigns, their images, AI image generations and executions.

Pages, the admin, the API and Celery tasks all come through here, so each rule lives once.
"""

import logging
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import F, Max, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from billing.plans import Limit
from billing.services import ai_image_record_usage, limit_check, run_refusal
from integrations.http import ProviderError
from integrations.openai import client as openai_client
from marketing import outbox
from marketing.models import User, Workspace

from . import destinations, images
from .captions import caption_problems, normalize_hashtags, post_problems, render_caption
from .selectors import publishable_images
from .destinations import RetryLater, StepFailed, StepOutcome
from .models import (
    Campaign,
    CampaignExecution,
    CampaignImage,
    CampaignStatus,
    CampaignStatusChange,
    CampaignTarget,
    ErrorCategory,
    ExecutionSource,
    ExecutionStatus,
    ExecutionStep,
    GenerationStatus,
    ImageGeneration,
    IN_FLIGHT,
    MANUAL_SOURCES,
    ImageSource,
    Schedule,
    StepStatus,
)

logger = logging.getLogger(__name__)

MAX_IMAGES = 10
# A worker holds an execution this long per step; past it the run counts as abandoned.
EXECUTION_LEASE = timedelta(minutes=10)
# Claims of one execution (first run, retries, redeliveries) before it is failed for good.
MAX_EXECUTION_ATTEMPTS = 5

S = CampaignStatus
ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    S.DRAFT: frozenset({S.SCHEDULED, S.ACTIVE, S.COMPLETED, S.FAILED, S.ARCHIVED}),
    S.SCHEDULED: frozenset({S.DRAFT, S.ACTIVE, S.PAUSED, S.COMPLETED, S.FAILED, S.ARCHIVED}),
    S.ACTIVE: frozenset({S.DRAFT, S.PAUSED, S.COMPLETED, S.FAILED, S.ARCHIVED}),
    S.PAUSED: frozenset({S.DRAFT, S.SCHEDULED, S.ACTIVE, S.ARCHIVED}),
    S.COMPLETED: frozenset({S.DRAFT, S.SCHEDULED, S.ACTIVE, S.FAILED, S.ARCHIVED}),
    S.FAILED: frozenset({S.DRAFT, S.SCHEDULED, S.ACTIVE, S.COMPLETED, S.ARCHIVED}),
    S.ARCHIVED: frozenset({S.DRAFT}),
}


class IllegalTransition(ValidationError):
    def __init__(self, campaign: Campaign, to: str) -> None:
        allowed = ", ".join(sorted(S(s).label.lower() for s in ALLOWED_TRANSITIONS[campaign.status])) or "nothing"
        super().__init__(
            f"A {S(campaign.status).label.lower()} campaign cannot become {S(to).label.lower()}; "
            f"it can become: {allowed}.",
            code="illegal_transition",
        )


def can_transition(campaign: Campaign, to: str) -> bool:
    return to in ALLOWED_TRANSITIONS[campaign.status]


@transaction.atomic
def campaign_transition(
    *, campaign: Campaign, to: str, by: User | None = None, via: str = "page", note: str = ""
) -> Campaign:
    """Moves a campaign to status ``to`` if the status machine allows it, and records the change."""
    locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if not can_transition(locked, to):
        raise IllegalTransition(locked, to)
    CampaignStatusChange.objects.create(
        campaign=locked, from_status=locked.status, to_status=to, by=by, via=via, note=note[:300]
    )
    Campaign.objects.filter(pk=locked.pk).update(status=to, updated_at=timezone.now())
    campaign.status = to
    return campaign


def _check_caption(*, caption: str, hashtags: str, first_comment: str = "") -> None:
    problems = post_problems(caption=caption, hashtags=hashtags, first_comment=first_comment)
    if problems:
        raise ValidationError(problems)


@transaction.atomic
def campaign_create(
    *,
    workspace: Workspace,
    by: User | None,
    name: str,
    brief: str = "",
    caption: str = "",
    hashtags: str = "",
    first_comment: str = "",
    targets: list[str] | tuple[str, ...] = (),
) -> Campaign:
    """Creates a campaign; ``targets`` are destination keys (``"instagram:7"``, see destinations.py)."""
    _check_caption(caption=caption, hashtags=hashtags, first_comment=first_comment)
    limit_check(workspace=workspace, limit=Limit.CAMPAIGNS)
    campaign = Campaign(
        workspace=workspace,
        name=name.strip(),
        brief=brief.strip(),
        caption=caption.strip(),
        hashtags=normalize_hashtags(hashtags),
        first_comment=first_comment.strip(),
        created_by=by,
        updated_by=by,
    )
    campaign.full_clean()
    pairs = destinations.targets_validate(workspace=workspace, keys=targets)
    campaign.save()
    _targets_set(campaign, pairs)
    return campaign


def _targets_set(campaign: Campaign, pairs: list[tuple[str, int]]) -> None:
    """Makes the campaign's targets exactly ``pairs``; targets kept keep their rows."""
    existing = {(t.destination, t.object_id): t for t in campaign.targets.all()}
    stale = [t.pk for pair, t in existing.items() if pair not in pairs]
    if stale:
        CampaignTarget.objects.filter(pk__in=stale).delete()
    CampaignTarget.objects.bulk_create(
        CampaignTarget(campaign=campaign, destination=destination, object_id=object_id)
        for destination, object_id in pairs
        if (destination, object_id) not in existing
    )


EDITABLE_FIELDS = ("name", "brief", "caption", "hashtags", "first_comment")


@transaction.atomic
def campaign_update(
    *, campaign: Campaign, by: User | None, targets: list[str] | tuple[str, ...] | None = None, **fields
) -> Campaign:
    """Changes the given fields; ``targets`` (destination keys), when given, replaces all targets."""
    if campaign.status == CampaignStatus.ARCHIVED:
        raise ValidationError("Archived campaigns cannot be edited. Restore it to a draft first.")
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationError(f"Unknown fields: {', '.join(sorted(unknown))}.")
    pairs = None if targets is None else destinations.targets_validate(workspace=campaign.workspace, keys=targets)
    for name, value in fields.items():
        if isinstance(value, str):
            value = normalize_hashtags(value) if name == "hashtags" else value.strip()
        setattr(campaign, name, value)
    _check_caption(caption=campaign.caption, hashtags=campaign.hashtags, first_comment=campaign.first_comment)
    campaign.updated_by = by
    campaign.full_clean()
    campaign.save()
    if pairs is not None:
        _targets_set(campaign, pairs)
    return campaign


@transaction.atomic
def campaign_duplicate(*, campaign: Campaign, by: User | None) -> Campaign:
    """A draft copy with the same texts and copies of the images."""
    copy = campaign_create(
        workspace=campaign.workspace,
        by=by,
        name=f"Copy of {campaign.name}"[:200],
        brief=campaign.brief,
        caption=campaign.caption,
        hashtags=campaign.hashtags,
        first_comment=campaign.first_comment,
    )
    CampaignTarget.objects.bulk_create(
        CampaignTarget(campaign=copy, destination=t.destination, object_id=t.object_id) for t in campaign.targets.all()
    )
    for image in campaign.images.all():
        with image.file.open("rb") as source:
            content = source.read()
        _image_create(
            campaign=copy,
            prepared=images.PreparedImage(content=content, width=image.width, height=image.height),
            position=image.position,
            source=image.source,
            prompt=image.prompt,
            model=image.model,
            fallback_reason=image.fallback_reason,
        )
    return copy


def campaign_archive(*, campaign: Campaign, by: User | None, via: str = "page") -> Campaign:
    return campaign_transition(campaign=campaign, to=CampaignStatus.ARCHIVED, by=by, via=via)


@transaction.atomic
def campaign_delete(*, campaign: Campaign, by: User | None) -> None:
    """Deletes a campaign, its images' files once committed, and its history."""
    if campaign.executions.filter(status=ExecutionStatus.RUNNING).exists():
        raise ValidationError("A run of this campaign is in progress. Cancel it or wait for it to finish.")
    paths = [image.file.name for image in campaign.images.all()]
    storage = CampaignImage._meta.get_field("file").storage
    campaign.delete()
    transaction.on_commit(lambda: [storage.delete(path) for path in paths])
    logger.info("campaign deleted", extra={"campaign_id": campaign.pk, "by": getattr(by, "pk", None)})


def _image_create(
    *,
    campaign: Campaign,
    prepared: images.PreparedImage,
    source: str,
    position: int | None = None,
    prompt: str = "",
    model: str = "",
    fallback_reason: str = "",
) -> CampaignImage:
    if position is None:
        last = campaign.images.aggregate(last=Max("position"))["last"]
        position = 0 if last is None else last + 1
    image = CampaignImage(
        campaign=campaign,
        position=position,
        width=prepared.width,
        height=prepared.height,
        source=source,
        prompt=prompt,
        model=model,
        fallback_reason=fallback_reason[:300],
    )
    image.file.save("image.jpg", ContentFile(prepared.content), save=False)
    image.save()
    return image


@transaction.atomic
def campaign_image_add(
    *,
    campaign: Campaign,
    prepared: images.PreparedImage,
    source: str = ImageSource.UPLOAD,
    prompt: str = "",
    model: str = "",
    fallback_reason: str = "",
) -> CampaignImage:
    """Appends an Instagram-ready JPEG to the campaign (at most ten, for a carousel)."""
    Campaign.objects.select_for_update().filter(pk=campaign.pk).first()
    if campaign.images.count() >= MAX_IMAGES:
        raise ValidationError(f"A campaign holds at most {MAX_IMAGES} images (Instagram's carousel limit).")
    return _image_create(
        campaign=campaign, prepared=prepared, source=source, prompt=prompt, model=model, fallback_reason=fallback_reason
    )


@transaction.atomic
def campaign_image_remove(*, image: CampaignImage) -> None:
    campaign, path = image.campaign, image.file.name
    storage = image.file.storage
    image.delete()
    for position, remaining in enumerate(campaign.images.all()):
        if remaining.position != position:
            CampaignImage.objects.filter(pk=remaining.pk).update(position=position)
    transaction.on_commit(lambda: storage.delete(path))


@transaction.atomic
def campaign_image_move(*, image: CampaignImage, offset: int) -> None:
    """Moves an image earlier (-1) or later (+1) in the carousel."""
    ordered = list(image.campaign.images.select_for_update().order_by("position", "id"))
    index = next(i for i, other in enumerate(ordered) if other.pk == image.pk)
    target = index + offset
    if not 0 <= target < len(ordered):
        return
    ordered[index], ordered[target] = ordered[target], ordered[index]
    for position, other in enumerate(ordered):
        CampaignImage.objects.filter(pk=other.pk).update(position=position)


# AI images -------------------------------------------------------------------------------------


def image_prompt(campaign: Campaign) -> str:
    brief = campaign.brief or campaign.caption or campaign.name
    return f"An Instagram post image for the campaign '{campaign.name}'. {brief}".strip()


@transaction.atomic
def image_generation_request(*, campaign: Campaign, by: User | None) -> ImageGeneration:
    """Queues an AI image for the campaign; the page polls the returned generation."""
    from django.conf import settings

    if campaign.status == CampaignStatus.ARCHIVED:
        raise ValidationError("Archived campaigns cannot get new images.")
    if campaign.images.count() >= MAX_IMAGES:
        raise ValidationError(f"A campaign holds at most {MAX_IMAGES} images. Remove one first.")
    in_progress = campaign.generations.filter(status__in=[GenerationStatus.QUEUED, GenerationStatus.RUNNING]).first()
    if in_progress is not None:
        return in_progress
    limit_check(workspace=campaign.workspace_id, limit=Limit.AI_IMAGES_PER_MONTH)
    generation = ImageGeneration.objects.create(
        campaign=campaign, prompt=image_prompt(campaign), model=settings.OPENAI_IMAGE_MODEL, requested_by=by
    )
    from .tasks import generate_image

    outbox.send_on_commit(generate_image, generation.pk)
    return generation


def image_generation_run(*, generation_id: int, fallback: bool = True) -> ImageGeneration | None:
    """Generates the image with OpenAI, or draws a placeholder and says why.

    A moderation refusal is final and draws nothing: the brief has to change. With
    ``fallback=False`` (a run's generation) nothing is drawn either: the generation is marked
    failed and the ProviderError is raised for the run to retry or fail.
    """
    claimed = ImageGeneration.objects.filter(pk=generation_id, status=GenerationStatus.QUEUED).update(
        status=GenerationStatus.RUNNING, started_at=timezone.now()
    )
    generation = ImageGeneration.objects.select_related("campaign").filter(pk=generation_id).first()
    if generation is None or not claimed:
        return generation
    campaign = generation.campaign
    try:
        raw = openai_client.generate_image(prompt=generation.prompt, model=generation.model)
        prepared = images.prepare_generated(raw)
        source, reason = ImageSource.AI, ""
        status = GenerationStatus.SUCCEEDED
    except openai_client.ModerationRefused as error:
        detail = error.detail.rstrip(".") or "its safety system said no"
        _generation_finish(
            generation, GenerationStatus.REFUSED, f"OpenAI refused the brief: {detail}. Change the brief and try again."
        )
        return generation
    except (ProviderError, ValidationError) as error:
        if not fallback:
            _generation_finish(generation, GenerationStatus.FAILED, _failure_reason(error))
            raise
        reason = _fallback_reason(error)
        prepared = images.draw_placeholder(title=campaign.name, subtitle=campaign.brief or campaign.caption)
        source, status = ImageSource.PLACEHOLDER, GenerationStatus.FELL_BACK
        logger.warning("image generation fell back", extra={"campaign_id": campaign.pk, "reason": reason})
    with transaction.atomic():
        try:
            image = campaign_image_add(
                campaign=campaign,
                prepared=prepared,
                source=source,
                prompt=generation.prompt,
                model=generation.model if source == ImageSource.AI else "",
                fallback_reason=reason,
            )
        except ValidationError as error:
            image, status, reason = None, GenerationStatus.FELL_BACK, " ".join(error.messages)
        generation.image = image
        _generation_finish(generation, status, reason)
        if status == GenerationStatus.SUCCEEDED:
            ai_image_record_usage(generation=generation)
    return generation


def _generation_finish(generation: ImageGeneration, status: str, reason: str) -> None:
    generation.status = status
    generation.fallback_reason = reason[:300]
    generation.finished_at = timezone.now()
    generation.save(update_fields=["image", "status", "fallback_reason", "finished_at"])


def _failure_reason(error: Exception) -> str:
    if isinstance(error, ProviderError):
        return error.message
    return f"OpenAI's image could not be used ({' '.join(getattr(error, 'messages', [str(error)]))})."


def _fallback_reason(error: Exception) -> str:
    if isinstance(error, openai_client.NotConfigured):
        return "No OpenAI key is configured (OPENAI_API_KEY), so a placeholder was drawn."
    if isinstance(error, ProviderError):
        return f"{error.message.rstrip('.')}; a placeholder was drawn instead."
    return f"OpenAI's image could not be used ({' '.join(getattr(error, 'messages', [str(error)]))})."


# Executions ------------------------------------------------------------------------------------

PREPARE_STEPS = ("prepare_image", "render_caption")


def execution_steps(*, campaign: Campaign, execution: CampaignExecution) -> list[ExecutionStep]:
    """A run's steps, unsaved: prepare the image and the caption, then one publish step per target.

    Uses ``campaign.targets.all()``, so a caller handling many campaigns can prefetch them. A
    campaign without targets gets one publish step, which says there is nowhere to publish.
    """
    steps = [ExecutionStep(execution=execution, position=i, name=name) for i, name in enumerate(PREPARE_STEPS)]
    targets = sorted(campaign.targets.all(), key=lambda t: t.pk) or [None]
    for target in targets:
        steps.append(
            ExecutionStep(
                execution=execution,
                position=len(steps),
                name="publish",
                destination=target.destination if target else "",
                object_id=target.object_id if target else None,
            )
        )
    return steps


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

    Each run's ``campaign`` must be set; prefetch the campaigns' ``targets`` for many runs.

    Runs the database refuses (a planned time that already has its run, a second manual run in
    flight) are left out of the list returned; the others are kept.
    """
    try:
        with transaction.atomic():
            CampaignExecution.objects.bulk_create(executions)
    except IntegrityError:
        executions = _create_one_by_one(executions)
    ExecutionStep.objects.bulk_create(
        step for execution in executions for step in execution_steps(campaign=execution.campaign, execution=execution)
    )
    ids = [execution.pk for execution in executions]
    if ids:
        transaction.on_commit(lambda: _queue_many(ids))
    return executions


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


def _claim(execution_id: int) -> bool:
    """Compare-and-set: only one worker at a time holds a queued (or abandoned) execution."""
    now = timezone.now()
    return bool(
        CampaignExecution.objects.filter(pk=execution_id)
        .filter(Q(status=ExecutionStatus.QUEUED) | Q(status=ExecutionStatus.RUNNING, lease_expires_at__lt=now))
        .update(
            status=ExecutionStatus.RUNNING,
            started_at=Coalesce(F("started_at"), now),
            lease_expires_at=now + EXECUTION_LEASE,
            attempts=F("attempts") + 1,
        )
    )


def execution_run(*, execution_id: int) -> CampaignExecution | None:
    """Runs (or resumes) an execution's steps. Safe to call twice: a second caller finds nothing to claim.

    Steps already settled (done, skipped, failed) or waiting for a callback are left alone, so a
    redelivered task or a retry resumes where the last one stopped and never publishes to a target
    twice. Publish steps are independent: one target failing or retrying does not stop the others.
    Raises RetryLater when a step failed transiently; the task schedules the retry.
    """
    if not _claim(execution_id):
        return CampaignExecution.objects.filter(pk=execution_id).first()
    execution = CampaignExecution.objects.select_related("campaign", "workspace").get(pk=execution_id)
    steps = list(execution.steps.all())
    if execution.attempts > MAX_EXECUTION_ATTEMPTS:
        return _execution_give_up(execution, steps)
    refusal = run_refusal(workspace_id=execution.workspace_id) if execution.attempts <= 1 else None
    if refusal:
        _execution_finish(execution, ExecutionStatus.CANCELLED, category=ErrorCategory.QUOTA, message=refusal)
        return execution
    context: dict[str, str] = {}
    retry: RetryLater | None = None
    for step in steps:
        if step.is_settled or step.status == StepStatus.WAITING:
            context.update(step.state.get("context", {}))
            if step.name in PREPARE_STEPS and step.status == StepStatus.FAILED:
                break
            continue
        if step.name in PREPARE_STEPS and retry is not None:
            break
        try:
            outcome = _run_step(execution, step, context)
        except StepFailed as failure:
            _step_finish(step, StepStatus.FAILED, failure.message, category=failure.category)
            if step.name in PREPARE_STEPS:
                _skip_rest(steps, step)
                break
            continue
        except RetryLater as later:
            _step_set(step, status=StepStatus.PENDING, detail=f"Will try again: {later.message}")
            if retry is None or later.countdown < retry.countdown:
                retry = later
            if step.name in PREPARE_STEPS:
                break
            continue
        except Exception as error:  # noqa: BLE001 - a bug must fail the step, never leave it running
            logger.exception("execution step crashed", extra={"execution_id": execution.pk, "step": step.name})
            message = f"Internal error in step '{step.label}': {error.__class__.__name__}."
            _step_finish(step, StepStatus.FAILED, message, category=ErrorCategory.INTERNAL)
            if step.name in PREPARE_STEPS:
                _skip_rest(steps, step)
                break
            continue
        if outcome.waiting:
            # Only a step still running becomes waiting: a fast callback may have finished it already.
            ExecutionStep.objects.filter(pk=step.pk, status=StepStatus.RUNNING).update(
                status=StepStatus.WAITING, detail=outcome.detail
            )
            step.status = StepStatus.WAITING
        else:
            _step_finish(step, StepStatus.SKIPPED if outcome.skipped else StepStatus.SUCCEEDED, outcome.detail, context)
        CampaignExecution.objects.filter(pk=execution.pk).update(lease_expires_at=timezone.now() + EXECUTION_LEASE)
    if retry is not None:
        # The lease now marks when the retry is overdue, so a lost retry gets recovered.
        CampaignExecution.objects.filter(pk=execution.pk).update(
            status=ExecutionStatus.QUEUED,
            lease_expires_at=timezone.now() + timedelta(seconds=retry.countdown) + EXECUTION_LEASE,
            error_message=retry.message[:2000],
        )
        raise retry
    _execution_settle(execution)
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


def _run_step(execution: CampaignExecution, step: ExecutionStep, context: dict[str, str]) -> StepOutcome:
    # The first attempt's start is kept, so a step's duration spans its retries; the note of the
    # last retry goes, since the step is trying again now.
    _step_set(step, status=StepStatus.RUNNING, started_at=step.started_at or timezone.now(), detail="")
    campaign = execution.campaign
    if step.name == "prepare_image":
        return _prepare_image(execution)
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
        return destinations.publish(execution=execution, step=step, caption=caption)
    raise StepFailed(f"Unknown step {step.name!r}.", category=ErrorCategory.INTERNAL)


# Waits between a run's attempts to generate its image (OpenAI down or its circuit open).
IMAGE_RETRY_BACKOFF = (30, 60, 120, 240, 480)


def _prepare_image(execution: CampaignExecution) -> StepOutcome:
    """Uses the campaign's images, or generates one. A run never publishes a placeholder: while
    OpenAI fails the run retries with backoff, and it fails with the reason when it gives up."""
    campaign = execution.campaign
    count = publishable_images(campaign=campaign).count()
    if count:
        return StepOutcome(detail=f"Using the campaign's {count} image{'s' if count > 1 else ''}.")
    generation = ImageGeneration.objects.create(campaign=campaign, prompt=image_prompt(campaign), model=_image_model())
    try:
        generation = image_generation_run(generation_id=generation.pk, fallback=False)
    except openai_client.NotConfigured:
        raise StepFailed(
            "The campaign has no image to publish and OpenAI is not configured (OPENAI_API_KEY): "
            "upload an image or set the key.",
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
    ExecutionStep.objects.filter(pk=step.pk).update(**fields)


def _step_finish(
    step: ExecutionStep, status: str, detail: str, context: dict[str, str] | None = None, *, category: str = ""
) -> None:
    state = {**step.state, "context": dict(context)} if context else step.state
    _step_set(
        step, status=status, detail=detail[:5000], finished_at=timezone.now(), state=state, error_category=category
    )
    if step.name == "publish" and step.destination and status in (StepStatus.SUCCEEDED, StepStatus.FAILED):
        _record_publish(step, ok=status == StepStatus.SUCCEEDED)


def _record_publish(step: ExecutionStep, *, ok: bool) -> None:
    """Counts a finished publish for its destination (monitoring's publish success rate)."""
    from monitoring.hooks import publish_finished

    from .destinations import destination_label

    publish_finished(destination=f"{destination_label(step.destination)} #{step.object_id}", kind=step.destination, ok=ok)


def step_save_state(step: ExecutionStep, **values) -> None:
    """Records what a step did with an outside service at once, so a rerun can resume from it."""
    _step_set(step, state={**step.state, **values})


def step_record_result(
    step: ExecutionStep, *, external_id: str = "", external_url: str = "", outputs: dict[str, str] | None = None
) -> None:
    """Records, at once, what the destination called the result (a media id, a post URL...).

    ``outputs`` are extra ids a destination reports (an n8n workflow that posted to Instagram says
    which post); ``CampaignExecution.outputs`` gathers them for the API and the run page.
    """
    fields: dict = {}
    if external_id:
        fields["external_id"] = str(external_id)[:64]
    if external_url:
        fields["external_url"] = str(external_url)[:500]
    if outputs:
        kept = {str(k)[:64]: str(v)[:500] for k, v in outputs.items() if isinstance(v, (str, int)) and v != ""}
        fields["state"] = {**step.state, "outputs": {**step.state.get("outputs", {}), **kept}}
    if fields:
        _step_set(step, **fields)


# How a finished run moves a campaign that is not on a recurring schedule or trigger.
_SETTLED_STATUS = {ExecutionStatus.SUCCEEDED: CampaignStatus.COMPLETED, ExecutionStatus.FAILED: CampaignStatus.FAILED}


@transaction.atomic
def _execution_settle(execution: CampaignExecution, *, note: str = "") -> bool:
    """Finishes the run once no step is left to run or waiting; True if it finished now.

    Failed if any step failed (with the first failure's category), else succeeded. A step still
    waiting for a callback leaves the run running, with no worker holding it.
    """
    locked = CampaignExecution.objects.select_for_update().get(pk=execution.pk)
    if locked.is_finished:
        return False
    steps = list(locked.steps.all())
    if any(step.status in (StepStatus.PENDING, StepStatus.RUNNING) for step in steps):
        return False
    if any(step.status == StepStatus.WAITING for step in steps):
        CampaignExecution.objects.filter(pk=locked.pk).update(lease_expires_at=None)
        return False
    failed = [step for step in steps if step.status == StepStatus.FAILED]
    if not failed:
        _execution_finish(execution, ExecutionStatus.SUCCEEDED, message=note)
        return True
    if len(failed) == 1:
        message = failed[0].detail
    else:
        message = " ".join(f"{step.label}: {step.detail}" for step in failed)
    published = [step.label for step in steps if step.name == "publish" and step.status == StepStatus.SUCCEEDED]
    if published:
        message += f" (Done: {', '.join(published)}.)"
    _execution_finish(
        execution, ExecutionStatus.FAILED, category=failed[0].error_category or ErrorCategory.INTERNAL, message=message
    )
    return True


@transaction.atomic
def _execution_finish(
    execution: CampaignExecution, status: str, *, category: str = "", message: str = ""
) -> None:
    now = timezone.now()
    updated = CampaignExecution.objects.filter(
        pk=execution.pk, status__in=[ExecutionStatus.RUNNING, ExecutionStatus.QUEUED]
    ).update(status=status, finished_at=now, lease_expires_at=None, error_category=category, error_message=message[:2000])
    execution.status, execution.finished_at = status, now
    execution.error_category, execution.error_message = category, message
    if not updated:
        return
    campaign = execution.campaign
    campaign.refresh_from_db(fields=["status"])
    target = _SETTLED_STATUS.get(status)
    if campaign.status == CampaignStatus.SCHEDULED and Schedule.objects.filter(
        campaign_id=campaign.pk, next_run_at__isnull=False
    ).exists():
        # A run outside the plan ("Run now", a trigger) leaves the planned run to happen.
        return
    # Active (recurring) and paused campaigns keep their status; one run does not end them.
    if target and campaign.status in (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED, CampaignStatus.COMPLETED, CampaignStatus.FAILED):
        if campaign.status != target:
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


# A generation no worker took within this time lost its task; one running this long lost its worker.
GENERATION_LOST_AFTER = timedelta(minutes=2)
GENERATION_ABANDONED_AFTER = timedelta(minutes=10)


def image_generation_recover_stale() -> int:
    """Requeues image generations whose task was lost or whose worker died, so none waits forever."""
    from .tasks import generate_image

    now = timezone.now()
    ImageGeneration.objects.filter(
        status=GenerationStatus.RUNNING, started_at__lt=now - GENERATION_ABANDONED_AFTER
    ).update(status=GenerationStatus.QUEUED)
    stale = list(
        ImageGeneration.objects.filter(status=GenerationStatus.QUEUED, created_at__lt=now - GENERATION_LOST_AFTER)
        .order_by("pk")
        .values_list("pk", flat=True)[:200]
    )
    if stale:
        outbox.send_many(generate_image, [(generation_id,) for generation_id in stale])
        logger.warning("requeued stale image generations", extra={"count": len(stale)})
    return len(stale)
