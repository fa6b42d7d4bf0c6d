"""Schedules: planning runs, the conflict rule, the queue of posting times, and dispatching due runs exactly once.

The form, the API and the admin all call ``schedule_conflicts`` through ``campaign_schedule``,
so the rule about accounts and quotas lives here once.
"""

import calendar
import logging
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from marketing.models import User, Workspace
from marketing.timefmt import when

from . import destinations, recurrence
from .models import (
    Campaign,
    CampaignExecution,
    CampaignStatus,
    DISPATCHED_STATUSES,
    ExecutionSource,
    PostingSlot,
    Schedule,
    ScheduleKind,
)
from .executions import executions_create
from .services import campaign_transition, can_transition

logger = logging.getLogger(__name__)

# How far ahead conflicts and quotas are checked, and the calendar looks.
CONFLICT_HORIZON = timedelta(days=14)
DEFAULT_QUOTA = 100
DISPATCH_BATCH = 1000


@dataclass
class Plan:
    """What a schedule form describes, before it is saved."""

    kind: str
    timezone: str
    run_at: datetime | None = None
    cron: str = ""
    preset: str = ""
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    max_runs: int | None = None


def plan_from_input(
    *,
    kind: str,
    timezone: str,
    run_at: datetime | None = None,
    preset: str = "",
    cron: str = "",
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    max_runs: int | None = None,
) -> Plan:
    """The plan a form, an API call or the admin describes. Times without a zone are read on the
    zone's wall clock (with the daylight-saving rule of ``recurrence``); fields of the other kind
    are dropped; a preset other than "custom" gives the cron. Raises ValidationError by field
    for what is missing; ``validate_plan`` judges the rest when the plan is saved.
    """
    try:
        tz = recurrence.zone(timezone)
    except ValidationError as error:
        raise ValidationError({"timezone": error.messages}) from error

    for field, moment in (("run_at", run_at), ("starts_at", starts_at), ("ends_at", ends_at)):
        # Before placing it on the time line: 9999-12-31 on a wall clock behind UTC overflows.
        recurrence.check_in_range(moment, field)

    def placed(moment: datetime | None) -> datetime | None:
        if moment is None or moment.tzinfo is not None:
            return moment
        return recurrence.localize(moment, tz)

    if kind == ScheduleKind.ONCE:
        if run_at is None:
            raise ValidationError({"run_at": "Choose when to run."})
        return Plan(kind=kind, timezone=timezone, run_at=placed(run_at))
    if kind != ScheduleKind.RECURRING:
        raise ValidationError({"kind": "Choose once or recurring."})
    if preset and preset != "custom":
        if preset not in recurrence.PRESETS:
            raise ValidationError({"preset": f"{preset!r} is not a preset."})
        cron = recurrence.PRESETS[preset][1]
    else:
        preset = ""
    if not cron:
        raise ValidationError({"cron": "Enter a cron expression, or pick a preset."})
    return Plan(
        kind=kind,
        timezone=timezone,
        cron=cron,
        preset=preset,
        starts_at=placed(starts_at),
        ends_at=placed(ends_at),
        max_runs=max_runs,
    )


@dataclass
class ConflictReport:
    warnings: list[str] = field(default_factory=list)
    refusal: str = ""


def planned_times(plan: Plan | Schedule, *, after: datetime, until: datetime, runs_done: int = 0) -> list[datetime]:
    """The plan's run times in (after, until], as aware UTC datetimes, honouring start, end and count."""
    if plan.kind == ScheduleKind.ONCE:
        return [plan.run_at] if plan.run_at and after < plan.run_at <= until and runs_done == 0 else []
    begin = max(after, plan.starts_at - timedelta(microseconds=1)) if plan.starts_at else after
    end = min(until, plan.ends_at) if plan.ends_at else until
    if end <= begin:
        return []
    left = None if plan.max_runs is None else plan.max_runs - runs_done
    if left is not None and left <= 0:
        return []
    # Enough for two weeks of five-minute runs at most; a calendar never needs more.
    limit = min(left if left is not None else 5000, 5000)
    return recurrence.next_runs(cron=plan.cron, tz=plan.timezone, after=begin, count=limit, until=end)


def next_planned(plan: Plan | Schedule, *, after: datetime, runs_done: int = 0) -> datetime | None:
    far = after + timedelta(days=800)
    if plan.kind == ScheduleKind.ONCE:
        times = planned_times(plan, after=after - timedelta(microseconds=1), until=far, runs_done=runs_done)
    else:
        begin = max(after, plan.starts_at - timedelta(microseconds=1)) if plan.starts_at else after
        if (plan.max_runs is not None and runs_done >= plan.max_runs) or (plan.ends_at and begin >= plan.ends_at):
            return None
        runs = recurrence.next_runs(cron=plan.cron, tz=plan.timezone, after=begin, count=1, until=plan.ends_at)
        times = runs
    return times[0] if times else None


def _fmt(moment: datetime, tz: str) -> str:
    return when(moment, tz)


def schedule_conflicts(*, campaign: Campaign, plan: Plan, now: datetime | None = None) -> ConflictReport:
    """Warns when a run would publish to the same target (an Instagram account...) too close to
    another campaign's, and refuses when the runs planned for any 24 hours would exceed the
    target's daily quota. Which targets need spacing, and their quotas, the destinations say.
    """
    report = ConflictReport()
    spaced = destinations.spaced_targets(campaign=campaign)
    if not spaced:
        return report
    now = now or timezone.now()
    until = now + CONFLICT_HORIZON
    ours = planned_times(plan, after=now, until=until)
    if not ours:
        return report
    for target in spaced:
        _target_conflicts(report, campaign=campaign, plan=plan, target=target, ours=ours, now=now, until=until)
        if report.refusal:
            break
    return report


def _target_conflicts(
    report: ConflictReport,
    *,
    campaign: Campaign,
    plan: Plan,
    target: destinations.SpacedTarget,
    ours: list[datetime],
    now: datetime,
    until: datetime,
) -> None:
    gap = timedelta(minutes=campaign.workspace.publish_gap_minutes)
    others: list[tuple[datetime, Campaign]] = []
    siblings = (
        Schedule.objects.filter(
            campaign__workspace_id=campaign.workspace_id,
            campaign__status__in=[CampaignStatus.SCHEDULED, CampaignStatus.ACTIVE],
            campaign__in=Campaign.objects.filter(destinations.targeting(target.destination, target.object_id)),
        )
        .exclude(campaign=campaign)
        .select_related("campaign")
    )
    for schedule in siblings:
        others.extend(
            (moment, schedule.campaign)
            for moment in planned_times(schedule, after=now, until=until, runs_done=schedule.runs_planned)
        )
    named: dict[int, list[str]] = {}
    for moment in ours:
        for other_moment, other in others:
            if abs(other_moment - moment) < gap:
                named.setdefault(other.pk, [other.name])
                if len(named[other.pk]) < 4:
                    named[other.pk].append(f"{_fmt(moment, plan.timezone)} vs {_fmt(other_moment, plan.timezone)}")
    for entries in named.values():
        report.warnings.append(
            f"“{entries[0]}” also publishes to {target.label} within {campaign.workspace.publish_gap_minutes} "
            f"minutes: {'; '.join(entries[1:])}."
        )
    quota = target.quota or DEFAULT_QUOTA
    timeline = sorted([moment for moment in ours] + [moment for moment, _ in others])
    start = 0
    for end, moment in enumerate(timeline):
        while moment - timeline[start] >= timedelta(hours=24):
            start += 1
        if end - start + 1 > quota:
            report.refusal = (
                f"{end - start + 1} posts would go to {target.label} in the 24 hours up to "
                f"{_fmt(moment, plan.timezone)}; {destinations.destination_label(target.destination)} allows {quota}. "
                "Space the runs out or lower the count."
            )
            break


def validate_plan(plan: Plan, *, now: datetime | None = None) -> None:
    """Raises ValidationError, by form field where there is one, for a plan that cannot run."""
    now = now or timezone.now()
    recurrence.zone(plan.timezone)
    for field in ("run_at", "starts_at", "ends_at"):
        recurrence.check_in_range(getattr(plan, field), field)
    if plan.kind == ScheduleKind.ONCE:
        if plan.run_at is None:
            raise ValidationError({"run_at": "Choose when to run."})
        if plan.run_at <= now:
            raise ValidationError({"run_at": "This time has already passed."})
        return
    if plan.kind != ScheduleKind.RECURRING:
        raise ValidationError({"kind": "Choose once or recurring."})
    try:
        plan.cron = recurrence.validate_cron(plan.cron)
    except ValidationError as error:
        # Beside the cron field, as the trigger form shows it.
        raise ValidationError({"cron": error.messages})
    if plan.starts_at and plan.ends_at and plan.ends_at <= plan.starts_at:
        raise ValidationError({"ends_at": "The end must come after the start."})
    if plan.max_runs is not None and plan.max_runs < 1:
        raise ValidationError({"max_runs": "At least one run."})
    if next_planned(plan, after=now) is None:
        raise ValidationError("This recurrence has no run in the future: check the end date and the count.")


@transaction.atomic
def campaign_schedule(
    *, campaign: Campaign, plan: Plan, by: User | None, via: str = "page", accept_warnings: bool = False
) -> ConflictReport:
    """Schedules (or reschedules) a campaign. Raises ValidationError for a bad plan, a quota
    refusal, or warnings the caller has not accepted; returns the report either way.
    """
    now = timezone.now()
    validate_plan(plan, now=now)
    campaign = (
        Campaign.objects.select_for_update(of=("self",))
        .select_related("workspace")
        .get(pk=campaign.pk)
    )
    report = schedule_conflicts(campaign=campaign, plan=plan, now=now)
    if report.refusal:
        raise ValidationError(report.refusal, code="quota")
    if report.warnings and not accept_warnings:
        raise ValidationError([ValidationError(warning, code="conflict") for warning in report.warnings])
    # One word for a campaign waiting for its planned runs, whether once or on a cron.
    target = CampaignStatus.SCHEDULED
    if campaign.status != target:
        campaign_transition(campaign=campaign, to=target, by=by, via=via, note="Scheduled")
    Schedule.objects.update_or_create(
        campaign=campaign,
        defaults={
            "kind": plan.kind,
            "run_at": plan.run_at if plan.kind == ScheduleKind.ONCE else None,
            "cron": plan.cron if plan.kind == ScheduleKind.RECURRING else "",
            "preset": plan.preset if plan.kind == ScheduleKind.RECURRING else "",
            "timezone": plan.timezone,
            "starts_at": plan.starts_at,
            "ends_at": plan.ends_at,
            "max_runs": plan.max_runs,
            "runs_planned": 0,
            "next_run_at": next_planned(plan, after=now),
            "created_by": by,
        },
    )
    return report


def campaign_reschedule(
    *, campaign: Campaign, run_at: datetime, by: User | None, via: str = "calendar", accept_warnings: bool = False
) -> tuple[ConflictReport, datetime]:
    """Moves a one-time schedule to ``run_at`` (aware), through ``campaign_schedule`` and so its
    conflict and quota rules. Returns the report and the time it had, for an undo."""
    schedule = Schedule.objects.filter(campaign=campaign).first()
    if schedule is None or schedule.kind != ScheduleKind.ONCE or schedule.run_at is None:
        raise ValidationError("Only a post planned once can be moved; change a recurrence on its schedule page.")
    plan = Plan(kind=ScheduleKind.ONCE, timezone=schedule.timezone, run_at=run_at)
    report = campaign_schedule(campaign=campaign, plan=plan, by=by, via=via, accept_warnings=accept_warnings)
    return report, schedule.run_at


@transaction.atomic
def campaign_unschedule(*, campaign: Campaign, by: User | None, via: str = "page") -> None:
    Schedule.objects.filter(campaign=campaign).delete()
    if campaign.status in (CampaignStatus.SCHEDULED, CampaignStatus.ACTIVE, CampaignStatus.PAUSED):
        campaign_transition(campaign=campaign, to=CampaignStatus.DRAFT, by=by, via=via, note="Unscheduled")


def campaign_pause(*, campaign: Campaign, by: User | None, via: str = "page") -> Campaign:
    """Stops planned runs; the schedule is kept for resuming."""
    return campaign_transition(campaign=campaign, to=CampaignStatus.PAUSED, by=by, via=via)


@transaction.atomic
def campaign_resume(*, campaign: Campaign, by: User | None, via: str = "page") -> Campaign:
    """Resumes a paused schedule from now on: runs missed while paused are skipped."""
    schedule = Schedule.objects.select_for_update().filter(campaign=campaign).first()
    if schedule is None:
        raise ValidationError("This campaign has no schedule to resume.")
    target = CampaignStatus.SCHEDULED
    now = timezone.now()
    schedule.next_run_at = next_planned(schedule, after=now, runs_done=schedule.runs_planned)
    if schedule.next_run_at is None:
        raise ValidationError("Nothing is left to run: the schedule has passed. Schedule it again.")
    schedule.save(update_fields=["next_run_at", "updated_at"])
    return campaign_transition(campaign=campaign, to=target, by=by, via=via, note="Resumed")


# Posting slots: "Add to queue" --------------------------------------------------------------------

MAX_SLOTS = 100
QUEUE_WEEKS = 8


def _queue_filter(queue: str) -> dict:
    """The slots of a queue: the workspace's own ("") or a destination's ("instagram:12")."""
    if not queue:
        return {"destination": "", "object_id": 0}
    destination, object_id = destinations.parse_key(queue)
    return {"destination": destination, "object_id": object_id}


def posting_slots(*, workspace: Workspace, queue: str = "") -> list[PostingSlot]:
    return list(PostingSlot.objects.filter(workspace=workspace, **_queue_filter(queue)).order_by("weekday", "time"))


def queues_with_slots(*, workspace: Workspace) -> set[str]:
    """The destination keys that have posting times of their own."""
    return {
        f"{destination}:{object_id}"
        for destination, object_id in PostingSlot.objects.filter(workspace=workspace)
        .exclude(destination="")
        .values_list("destination", "object_id")
        .distinct()
    }


def slots_by_day(slots: list[PostingSlot]) -> list[tuple[str, list[PostingSlot]]]:
    """Each day of the week, Monday first, with its posting times."""
    return [(name, [slot for slot in slots if slot.weekday == day]) for day, name in enumerate(calendar.day_name)]


def posting_slot_add(*, workspace: Workspace, weekdays: list[int], at: time, queue: str = "") -> list[PostingSlot]:
    """Adds the time on each of ``weekdays`` (0 is Monday) to the workspace's queue, or to the
    ``queue`` of one of its destinations; a time the queue has already is kept once."""
    weekdays = sorted(set(weekdays))
    if not weekdays or any(day not in range(7) for day in weekdays):
        raise ValidationError({"weekdays": "Choose at least one day."})
    if queue:
        destinations.targets_validate(workspace=workspace, keys=[queue])  # the workspace's own, or refused
    at = at.replace(second=0, microsecond=0, tzinfo=None)
    if PostingSlot.objects.filter(workspace=workspace).count() + len(weekdays) > MAX_SLOTS:
        raise ValidationError(f"A workspace has at most {MAX_SLOTS} posting times.")
    where = _queue_filter(queue)
    PostingSlot.objects.bulk_create(
        [PostingSlot(workspace=workspace, weekday=day, time=at, **where) for day in weekdays], ignore_conflicts=True
    )
    return posting_slots(workspace=workspace, queue=queue)


def posting_slot_delete(*, slot: PostingSlot) -> None:
    slot.delete()


def queued_moments(
    *, workspace: Workspace, after: datetime, until: datetime, besides: Campaign | None = None, queue: str = ""
) -> set[datetime]:
    """The moments already taken by the workspace's planned runs (a one-time run's time, a
    recurrence's next run); for a destination's ``queue``, by those of campaigns publishing there."""
    planned = Schedule.objects.filter(
        campaign__workspace=workspace,
        campaign__status__in=[CampaignStatus.SCHEDULED, CampaignStatus.ACTIVE],
        next_run_at__gte=after,
        next_run_at__lte=until,
    )
    if queue:
        where = _queue_filter(queue)
        planned = planned.filter(
            campaign__targets__destination=where["destination"], campaign__targets__object_id=where["object_id"]
        )
    if besides is not None:
        planned = planned.exclude(campaign=besides)
    return set(planned.values_list("next_run_at", flat=True))


def posting_moments(*, workspace: Workspace, start: datetime, end: datetime, queue: str = "") -> list[datetime]:
    """Every posting time of the workspace's queue (or a destination's) from ``start`` up to ``end``, in order."""
    slots = posting_slots(workspace=workspace, queue=queue)
    if not slots:
        return []
    zone = recurrence.zone(workspace.timezone)
    first, last = start.astimezone(zone).date(), end.astimezone(zone).date()
    moments = []
    for offset in range((last - first).days + 1):
        date = first + timedelta(days=offset)
        for slot in slots:
            if slot.weekday == date.weekday():
                moment = recurrence.localize(datetime.combine(date, slot.time), zone)
                if start <= moment < end:
                    moments.append(moment)
    return moments


def next_free_slot(
    *, workspace: Workspace, after: datetime | None = None, besides: Campaign | None = None, queue: str = ""
) -> datetime | None:
    """The first posting time of the queue after ``after`` that no planned run takes (of the
    workspace, or of the destination's campaigns), in the next QUEUE_WEEKS weeks, on the
    workspace's clock; None when there is none."""
    after = after or timezone.now()
    until = after + timedelta(weeks=QUEUE_WEEKS)
    moments = posting_moments(workspace=workspace, start=after, end=until, queue=queue)
    if not moments:
        return None
    taken = queued_moments(workspace=workspace, after=after, until=until, besides=besides, queue=queue)
    return next((moment for moment in moments if moment not in taken), None)


def campaign_queue_key(campaign: Campaign) -> str:
    """The queue "Add to queue" fills for the campaign: its only target's, when that destination has
    posting times of its own; the workspace's ("") otherwise."""
    keys = [target.key for target in campaign.targets.all()]
    if len(keys) == 1 and keys[0] in queues_with_slots(workspace=campaign.workspace):
        return keys[0]
    return ""


@transaction.atomic
def campaign_queue(*, campaign: Campaign, by: User | None, via: str = "page") -> tuple[datetime, ConflictReport]:
    """Schedules the campaign once at the workspace's next free posting time, through
    ``campaign_schedule`` and so its rules. Queuing in a workspace is one at a time, so two
    campaigns queued together never take the same time."""
    workspace = Workspace.objects.select_for_update().get(pk=campaign.workspace_id)
    queue = campaign_queue_key(campaign)
    if not queue and not PostingSlot.objects.filter(workspace=workspace, destination="").exists():
        raise ValidationError("Set the workspace's posting times first: the queue fills them in order.", code="no_slots")
    # At least a minute ahead, so the run is not due before the schedule is saved.
    moment = next_free_slot(
        workspace=workspace, after=timezone.now() + timedelta(minutes=1), besides=campaign, queue=queue
    )
    if moment is None:
        raise ValidationError(
            f"Every posting time of the next {QUEUE_WEEKS} weeks is taken{' for its destination' if queue else ''}. "
            "Add posting times, or schedule it yourself.",
            code="queue_full",
        )
    plan = Plan(kind=ScheduleKind.ONCE, timezone=workspace.timezone, run_at=moment)
    report = campaign_schedule(campaign=campaign, plan=plan, by=by, via=via, accept_warnings=True)
    return moment, report


def dispatch_due_runs(*, now: datetime | None = None, batch: int = DISPATCH_BATCH) -> int:
    """Starts one execution per due planned time, however many dispatchers run at once.

    Each batch locks its due schedules (skipping rows another dispatcher holds), advances their
    ``next_run_at`` and creates the executions in one transaction; the unique (campaign,
    planned_for) key refuses a duplicate even if a claim were ever repeated.
    """
    now = now or timezone.now()
    total = 0
    while True:
        created = _dispatch_batch(now=now, batch=batch)
        total += created
        if created < batch:
            return total


def _dispatch_batch(*, now: datetime, batch: int) -> int:
    with transaction.atomic():
        due = Schedule.objects.filter(
            next_run_at__lte=now, campaign__status__in=DISPATCHED_STATUSES
        ).select_related("campaign")
        if connection.features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True, of=("self",))
        schedules = list(due.order_by("next_run_at")[:batch])
        if not schedules:
            return 0
        executions = []
        finished_once = []
        for schedule in schedules:
            planned = schedule.next_run_at
            schedule.runs_planned += 1
            schedule.next_run_at = next_planned(schedule, after=planned, runs_done=schedule.runs_planned)
            executions.append(
                CampaignExecution(
                    workspace_id=schedule.campaign.workspace_id,
                    campaign=schedule.campaign,
                    source=ExecutionSource.SCHEDULE,
                    planned_for=planned,
                )
            )
            if schedule.next_run_at is None and schedule.kind == ScheduleKind.RECURRING:
                finished_once.append(schedule.campaign)
        _schedules_advance(schedules)
        executions = executions_create(executions=executions)
        for campaign in finished_once:
            # The recurrence has no run left: the campaign completes once its last run is done.
            if can_transition(campaign, CampaignStatus.COMPLETED):
                campaign_transition(campaign=campaign, to=CampaignStatus.COMPLETED, via="task", note="Last planned run")
    logger.info("dispatched due runs", extra={"count": len(executions)})
    return len(schedules)


def _schedules_advance(schedules: list[Schedule]) -> None:
    """Saves the locked schedules' ``runs_planned`` and ``next_run_at``: on PostgreSQL in one
    UPDATE joined to the new values, which costs a fraction of the CASE per row of ``bulk_update``."""
    if connection.vendor != "postgresql":
        Schedule.objects.bulk_update(schedules, ["runs_planned", "next_run_at"])
        return
    table = connection.ops.quote_name(Schedule._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS s SET runs_planned = v.runs_planned, next_run_at = v.next_run_at "
            "FROM unnest(%s::bigint[], %s::integer[], %s::timestamptz[]) AS v(id, runs_planned, next_run_at) "
            "WHERE s.id = v.id",
            [
                [schedule.pk for schedule in schedules],
                [schedule.runs_planned for schedule in schedules],
                [schedule.next_run_at for schedule in schedules],
            ],
        )
