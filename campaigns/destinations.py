"""Where campaigns publish: the registry of destinations.

A campaign has one or more targets (``CampaignTarget``: a destination's key and the id of one of
its objects, such as an Instagram account or an n8n workflow). Each run gets one publish step per
target. ``campaigns/`` and ``marketing/`` know destinations only through the functions here; they
import nothing from ``integrations/``.

To add a destination (WordPress, say):

1. In the integration, subclass ``Destination``: set ``key`` ("wordpress", stored on targets and
   steps, so never rename it), ``label``, ``group`` (the heading of its choices in the form) and
   ``model`` (what a target points at; it needs a ``workspace`` foreign key), and write
   ``publish``. Override the optional hooks it has: ``offered``/``describe`` (which objects the
   form offers and how they read), ``insights`` (a panel on the campaign page),
   ``needs_reconnect`` (the reconnect flag behind the banner), ``checks_spacing``/``daily_quota``
   (the scheduling conflict and quota checks), ``timing_hint`` (when its past posts did best, on
   the schedule page), ``max_per_campaign``.
2. Register one instance in the integration's ``AppConfig.ready()``:
   ``destinations.register(WordPressDestination())``.

The campaign form, the API, the admin, the scheduler's checks and the run engine then pick it
up; deleting one of its objects removes the targets that point at it (past runs keep their steps).

``publish`` returns a StepOutcome: done (with a detail), or waiting for the outside system to call
back (finish the step with ``executions.step_resume_from_callback``). It raises StepFailed for a
final failure and RetryLater for a transient one; either way only that target's step is
affected, and a rerun never repeats a step that is already done, failed or waiting.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Exists, OuterRef, Q, QuerySet, Value
from django.db.models.signals import post_delete

from .models import ErrorCategory

if TYPE_CHECKING:
    from marketing.models import Workspace

    from .models import Campaign, CampaignExecution, CampaignTarget, ExecutionStep


@dataclass
class StepOutcome:
    detail: str
    waiting: bool = False
    skipped: bool = False
    # What the last outside call gave (as ``executions.step_record_result`` takes it): the engine
    # records it with the step's finish, in the write it makes as soon as the step returns.
    external_url: str = ""
    outputs: dict[str, str] | None = None
    state: dict | None = None


class StepFailed(Exception):
    def __init__(self, message: str, *, category: str = ErrorCategory.PROVIDER) -> None:
        super().__init__(message)
        self.message = message
        self.category = category


class RetryLater(Exception):
    """A transient failure: run the execution again after ``countdown`` seconds."""

    def __init__(self, message: str, *, countdown: float = 30) -> None:
        super().__init__(message)
        self.message = message
        self.countdown = countdown


@dataclass(frozen=True)
class Choice:
    """One object a campaign can target, as the form, the detail page and the API show it."""

    key: str  # "<destination>:<object id>"
    label: str
    ready: bool = True  # False when publishing there would fail now (an account to reconnect)
    note: str = ""


@dataclass(frozen=True)
class TimingHint:
    """When a target's own past posts did best, offered while scheduling: ``times`` in the viewer's zone."""

    label: str
    times: list[str]
    url: str


@dataclass(frozen=True)
class InsightsPanel:
    """A block on the campaign page: ``template`` is included with ``data``."""

    template: str
    data: Any


class Destination:
    key: ClassVar[str]
    label: ClassVar[str]
    group: ClassVar[str]
    model: ClassVar[type[models.Model]]
    # Runs to one object too close together warn, and more than ``daily_quota`` in 24 hours refuse.
    checks_spacing: ClassVar[bool] = False
    max_per_campaign: ClassVar[int | None] = None

    def publish(self, *, execution: CampaignExecution, step: ExecutionStep, caption: str) -> StepOutcome:
        raise NotImplementedError

    def queryset(self, *, workspace_id: int) -> QuerySet:
        return self.model._default_manager.filter(workspace_id=workspace_id)

    def offered(self, obj: models.Model) -> bool:
        """Whether the form offers this object to new targets (a target already set stays listed)."""
        return True

    def describe(self, obj: models.Model) -> Choice:
        return Choice(key=f"{self.key}:{obj.pk}", label=str(obj))

    def insights(self, *, campaign: Campaign) -> InsightsPanel | None:
        return None

    def timing_hint(self, obj: models.Model) -> TimingHint | None:
        return None

    def needs_reconnect(self) -> QuerySet | None:
        """Objects that need their owner to reconnect them; filtered by workspace by the registry."""
        return None

    def daily_quota(self, obj: models.Model) -> int | None:
        return None


_registry: dict[str, Destination] = {}


def register(destination: Destination) -> None:
    """Adds a destination; its objects' deletion removes the targets and posting times pointing at them."""
    _registry[destination.key] = destination
    post_delete.connect(_forget_targets, sender=destination.model, dispatch_uid=f"destination-{destination.key}")


def _forget_targets(sender: type[models.Model], instance: models.Model, **kwargs: Any) -> None:
    from .models import CampaignTarget, PostingSlot

    for destination in _registry.values():
        if destination.model is sender:
            CampaignTarget.objects.filter(destination=destination.key, object_id=instance.pk).delete()
            PostingSlot.objects.filter(destination=destination.key, object_id=instance.pk).delete()


def registered() -> list[Destination]:
    return list(_registry.values())


def get(key: str) -> Destination | None:
    return _registry.get(key)


def destination_label(key: str) -> str:
    destination = _registry.get(key)
    return destination.label if destination else key


def key_for(obj: models.Model) -> str:
    """The target key of an integration's object (``"instagram:7"``)."""
    for destination in _registry.values():
        if isinstance(obj, destination.model):
            return f"{destination.key}:{obj.pk}"
    raise ValueError(f"No destination publishes to a {obj.__class__.__name__}.")


def parse_key(key: str) -> tuple[str, int]:
    destination, _, object_id = str(key).partition(":")
    if destination not in _registry or not object_id.isdigit():
        raise ValidationError({"targets": f"“{key}” is not a destination (expected e.g. instagram:12)."})
    return destination, int(object_id)


# Form choices and descriptions -------------------------------------------------------------------


def target_choices(*, workspace: Workspace, keep: Iterable[str] = ()) -> dict[str, list[Choice]]:
    """What the workspace's campaigns can publish to, by group; ``keep`` lists keys already chosen."""
    keep = set(keep)
    grouped = {}
    for destination in _registry.values():
        choices = [
            choice
            for obj in destination.queryset(workspace_id=workspace.pk)
            if (choice := destination.describe(obj)).key in keep or destination.offered(obj)
        ]
        grouped[destination.group] = choices
    return grouped


def targets_validate(*, workspace: Workspace, keys: Iterable[str]) -> list[tuple[str, int]]:
    """The (destination, object id) pairs behind ``keys``, checked to be the workspace's own."""
    pairs = list(dict.fromkeys(parse_key(key) for key in keys))
    for key, destination in _registry.items():
        wanted = {object_id for dest, object_id in pairs if dest == key}
        if not wanted:
            continue
        if destination.max_per_campaign is not None and len(wanted) > destination.max_per_campaign:
            raise ValidationError(
                {"targets": f"A campaign publishes to at most {destination.max_per_campaign} {destination.group}."}
            )
        found = set(destination.queryset(workspace_id=workspace.pk).filter(pk__in=wanted).values_list("pk", flat=True))
        if found != wanted:
            raise ValidationError({"targets": f"That {destination.label} destination is not one of this workspace's."})
    return pairs


def targets_describe(targets: Iterable[CampaignTarget], *, workspace_id: int) -> list[Choice]:
    """How each target reads (label, ready), one query per destination; unknown ones say so."""
    targets = list(targets)
    described: dict[str, Choice] = {}
    for key, destination in _registry.items():
        ids = [t.object_id for t in targets if t.destination == key]
        if ids:
            for obj in destination.queryset(workspace_id=workspace_id).filter(pk__in=ids):
                choice = destination.describe(obj)
                described[choice.key] = choice
    return [
        described.get(t.key) or Choice(key=t.key, label=f"{destination_label(t.destination)} (removed)", ready=False)
        for t in targets
    ]


def timing_hints(*, campaign: Campaign) -> list[TimingHint]:
    """What each of the campaign's targets says about when to publish, one query or so per target."""
    hints = []
    for target in campaign.targets.all():
        destination = _registry.get(target.destination)
        if destination is None:
            continue
        obj = destination.queryset(workspace_id=campaign.workspace_id).filter(pk=target.object_id).first()
        if obj is not None and (hint := destination.timing_hint(obj)) is not None:
            hints.append(hint)
    return hints


def ready_count(*, workspace: Workspace) -> int:
    """How many objects of the workspace a campaign could publish to right now."""
    return sum(
        1
        for destination in _registry.values()
        for obj in destination.queryset(workspace_id=workspace.pk)
        if destination.offered(obj) and destination.describe(obj).ready
    )


# Runs --------------------------------------------------------------------------------------------


def publish(*, execution: CampaignExecution, step: ExecutionStep, caption: str) -> StepOutcome:
    destination = _registry.get(step.destination)
    if destination is None:
        raise StepFailed(f"Nothing publishes to “{step.destination}” any more.", category=ErrorCategory.VALIDATION)
    return destination.publish(execution=execution, step=step, caption=caption)


def insight_panels(*, campaign: Campaign) -> list[InsightsPanel]:
    return [panel for d in _registry.values() if (panel := d.insights(campaign=campaign)) is not None]


def needs_reconnect(workspace: OuterRef | int) -> Exists | Value:
    """An expression: does the workspace have an object to reconnect? For one annotated query."""
    flags = [
        Exists(queryset.filter(workspace=workspace))
        for destination in _registry.values()
        if (queryset := destination.needs_reconnect()) is not None
    ]
    if not flags:
        return Value(False, output_field=models.BooleanField())
    combined = flags[0]
    for flag in flags[1:]:
        combined = combined | flag
    return combined


# Scheduling checks ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SpacedTarget:
    """A target whose runs must be spaced out and fit a daily quota."""

    destination: str
    object_id: int
    label: str
    quota: int | None


def spaced_targets(*, campaign: Campaign) -> list[SpacedTarget]:
    found = []
    for target in campaign.targets.all():
        destination = _registry.get(target.destination)
        if destination is None or not destination.checks_spacing:
            continue
        obj = destination.queryset(workspace_id=campaign.workspace_id).filter(pk=target.object_id).first()
        if obj is not None:
            found.append(
                SpacedTarget(target.destination, target.object_id, destination.describe(obj).label, destination.daily_quota(obj))
            )
    return found


def targeting(destination: str, object_id: int) -> Q:
    """Campaigns (as a filter on Campaign) with this target."""
    return Q(targets__destination=destination, targets__object_id=object_id)
