import json
from base64 import urlsafe_b64decode, urlsafe_b64encode
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db.models import DateTimeField, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from marketing.compiled import CompiledShapes, rows
from marketing.models import Workspace

from . import destinations
from .models import (
    Campaign,
    CampaignComment,
    CampaignExecution,
    CampaignImage,
    CampaignStatus,
    HashtagGroup,
    ImageGeneration,
    Schedule,
)

if TYPE_CHECKING:
    from .scheduling import Plan

SORTS = {
    "updated": "-updated_at",
    "created": "-created_at",
    "name": "name",
    "status": "status",
}
DEFAULT_SORT = "updated"


def campaign_list(*, workspace: Workspace, search: str = "", status: str = "", sort: str = DEFAULT_SORT) -> QuerySet[Campaign]:
    """The workspace's campaigns, filtered and ordered; archived ones only when asked for."""
    return _filtered(Campaign.objects.filter(workspace=workspace), search=search, status=status, sort=sort)


def _filtered(queryset: QuerySet[Campaign], *, search: str, status: str, sort: str) -> QuerySet[Campaign]:
    if status == "all":
        pass
    elif status in CampaignStatus.values:
        queryset = queryset.filter(status=status)
    else:
        queryset = queryset.exclude(status=CampaignStatus.ARCHIVED)
    if search:
        queryset = queryset.filter(Q(name__icontains=search) | Q(caption__icontains=search))
    return queryset.order_by(SORTS.get(sort, SORTS[DEFAULT_SORT]), "-id")


@dataclass
class CampaignPage:
    campaigns: list[Campaign]
    number: int
    has_next: bool
    has_previous: bool
    # Where the next and previous pages start (``after`` and ``before`` in the page's links). The
    # previous link of page 2 goes back to the first page itself, so it has no cursor.
    next_cursor: str = ""
    previous_cursor: str = ""


MAX_PAGE = 10_000
# The columns a row shows; the sort's own column is added, for the page's cursors.
ROW_FIELDS = ("id", "name", "caption", "brief", "status", "updated_at")
_latest_run = CampaignExecution.objects.filter(campaign=OuterRef("pk")).order_by("-queued_at", "-id")
_first_image = CampaignImage.objects.filter(campaign=OuterRef("pk")).order_by("position", "id")
# A row with its last run's status and time and its first image's id. Built once: resolving the
# three subqueries was a third of the page's query time. Pages filter copies of it; it is never
# evaluated itself, which would keep the rows it read.
LIST_ROWS = Campaign.objects.only(*ROW_FIELDS).annotate(
    last_run_status=Subquery(_latest_run.values("status")[:1]),
    last_run_at=Subquery(_latest_run.values("queued_at")[:1]),
    first_image_id=Subquery(_first_image.values("id")[:1]),
)
# The first page and cursor pages, each shape's SQL compiled once: compiling the statement with
# its three subqueries cost more than PostgreSQL's planning and running it.
LIST_STATEMENTS = CompiledShapes(LIST_ROWS)


def campaign_page(
    *,
    workspace: Workspace,
    page: int,
    size: int,
    search: str = "",
    status: str = "",
    sort: str = DEFAULT_SORT,
    after: str = "",
    before: str = "",
) -> CampaignPage:
    """One page of the list, with each row's last run and first image, in one query.

    The list's links carry a cursor, the sort value and id of the row the page continues from
    (``after``) or comes before (``before``): the page is read from there along an index, so the
    last of 4,000 pages costs what the first does. ``page`` is the page's number, shown only; a
    number without a cursor (an old link, a typed URL) is found by skipping rows, up to MAX_PAGE.
    Whether there is a next page is told by a look-ahead row, never by a COUNT over the workspace.
    """
    number = min(max(page, 1), MAX_PAGE)
    sort = sort if sort in SORTS else DEFAULT_SORT
    # The sort's column is read too, for the cursors.
    rows_of = LIST_ROWS.only(*ROW_FIELDS, _sort_field(sort))
    listed = _filtered(rows_of.filter(workspace=workspace), search=search, status=status, sort=sort)
    if (position := read_cursor(after or before, sort=sort)) is not None:
        forward = bool(after)
        queryset = listed.filter(_beyond(position, sort=sort, forward=forward))
        rows = LIST_STATEMENTS.rows((queryset if forward else queryset.reverse())[: size + 1])
        more = len(rows) > size
        rows = rows[:size]
        if forward:
            number, has_next, has_previous = max(number, 2), more, True
        else:
            # Read backwards from the cursor: turned the right way round for the page.
            rows.reverse()
            has_next, has_previous = True, more
            number = number if more else 1
    elif number == 1:
        rows = LIST_STATEMENTS.rows(listed[: size + 1])
        has_next, has_previous = len(rows) > size, False
        rows = rows[:size]
    else:
        # The page's ids are picked first, in a subquery, so that the per-row subqueries run for
        # its rows only and not for every row the OFFSET skips. Compiled each time: the OFFSET
        # is in the statement's text, a shape per page number.
        page_ids = listed.values("pk")[(number - 1) * size : number * size + 1]
        # Scoped through page_ids. Repeating the workspace here made SQLite walk the workspace's
        # index instead of fetching 26 rows by id.
        rows = list(rows_of.filter(pk__in=page_ids).order_by(*listed.query.order_by))
        has_next, has_previous = len(rows) > size, True
        rows = rows[:size]
    return CampaignPage(
        campaigns=rows,
        number=number,
        has_next=has_next,
        has_previous=has_previous,
        next_cursor=make_cursor(rows[-1], sort=sort) if has_next and rows else "",
        previous_cursor=make_cursor(rows[0], sort=sort) if has_previous and number > 2 and rows else "",
    )


def _sort_field(sort: str) -> str:
    return SORTS[sort].lstrip("-")


def make_cursor(campaign: Campaign, *, sort: str) -> str:
    """The row's place in the list sorted by ``sort``, as a URL-safe token: the sort, its value, the id."""
    value = getattr(campaign, _sort_field(sort))
    if isinstance(value, datetime):
        value = value.isoformat()
    return urlsafe_b64encode(json.dumps([sort, value, campaign.pk]).encode()).decode().rstrip("=")


def read_cursor(token: str, *, sort: str) -> tuple[str | datetime, int] | None:
    """The (value, id) a cursor made for ``sort`` holds; None for a missing, foreign or garbled one."""
    if not token or len(token) > 1000:
        return None
    try:
        made_for, value, pk = json.loads(urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, TypeError):
        return None
    # Values the database would refuse: a NUL in a string, an id beyond its integers.
    if made_for != sort or not isinstance(value, str) or "\x00" in value or type(pk) is not int or not 0 < pk < 2**63:
        return None
    if isinstance(Campaign._meta.get_field(_sort_field(sort)), DateTimeField):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
        if value.tzinfo is None:
            return None
    return value, pk


def _beyond(position: tuple[str | datetime, int], *, sort: str, forward: bool) -> Q:
    """The rows past the cursor's row in the list's order (``forward``), or before it.

    The list is ordered by the sort's column, then by id from the newest. The redundant bound on
    the column alone is what lets the database start the index scan at the cursor.
    """
    value, pk = position
    column = _sort_field(sort)
    descending = SORTS[sort].startswith("-")
    op = "lt" if descending == forward else "gt"
    id_op = "lt" if forward else "gt"
    return Q(**{f"{column}__{op}e": value}) & (Q(**{f"{column}__{op}": value}) | Q(**{f"pk__{id_op}": pk}))


def campaign_for_detail(*, workspace: Workspace) -> QuerySet[Campaign]:
    return Campaign.objects.filter(workspace=workspace).select_related(
        "created_by", "updated_by", "schedule", "workspace"
    ).prefetch_related("targets")


def schedule_words(schedule: "Schedule | Plan | None") -> str:
    """The schedule as people say it: 'Weekdays at 09:30, Berlin time' or 'Once, Tue 3 Mar 2026, 09:30'."""
    from marketing.timefmt import when, zone_label

    from .recurrence import describe_cron

    if schedule is None:
        return ""
    if schedule.kind == "once":
        if schedule.run_at is None:
            return ""
        return f"Once, {when(schedule.run_at, schedule.timezone)}"
    return f"{describe_cron(schedule.cron)}, {zone_label(schedule.timezone)}"


def campaign_targets(*, campaign: Campaign) -> list[destinations.Choice]:
    """The campaign's targets as the page shows them (label, and whether publishing there works now)."""
    return destinations.targets_describe(campaign.targets.all(), workspace_id=campaign.workspace_id)


def publishable_images(*, campaign: Campaign, keep: bool = False) -> list[CampaignImage]:
    """The images a run may publish, in carousel order. A placeholder is for the editor only.

    Read on a run's hot path, so with its SQL written out (``marketing.compiled.rows``); a
    campaign has a handful of images, filtered here. ``keep``: the run's image step keeps what it
    found on the run's campaign instance, and its publish steps read that instead of the table
    again. An empty list is not kept: the step then generates an image, which a later read finds.
    """
    kept = getattr(campaign, "_kept_publishable_images", None)
    if kept is not None:
        return list(kept)
    images = rows(CampaignImage, {"campaign": campaign.pk}, order_by=("position", "id"))
    return images_read(campaign=campaign, images=images, keep=keep)


def images_read(*, campaign: Campaign, images: list[CampaignImage], keep: bool = True) -> list[CampaignImage]:
    """The publishable ones of the campaign's images, all of them read in carousel order (by
    ``publishable_images``, or with a run's claim), kept on the instance as ``keep`` says."""
    for image in images:
        image.campaign = campaign
    publishable = [image for image in images if image.publishable]
    if keep and publishable:
        campaign._kept_publishable_images = tuple(publishable)
    return publishable


def execution_history(*, campaign: Campaign, limit: int = 20) -> list[CampaignExecution]:
    return list(
        campaign.executions.select_related("requested_by").prefetch_related("steps").order_by("-queued_at", "-id")[:limit]
    )


def latest_generation(*, campaign: Campaign) -> ImageGeneration | None:
    return campaign.generations.order_by("-created_at", "-id").first()


@dataclass
class CalendarEntry:
    at: datetime
    campaign: Campaign
    kind: str  # "planned" or an execution status
    execution: CampaignExecution | None = None
    # A planned one-time run can be dragged to another slot; a cron's runs move with the cron.
    movable: bool = False


@dataclass
class CalendarDay:
    day: date
    in_range: bool
    is_today: bool
    entries: list[CalendarEntry] = field(default_factory=list)
    # Where a click on the day creates a post (wall clock in the viewer's zone); None when past.
    new_at: datetime | None = None


def _new_post_time(day: date, local_now: datetime) -> datetime | None:
    """A new post made from a day of the month: 09:00, or the next full hour of a day already
    past 09:00; none for a day that is over."""
    morning = datetime.combine(day, time(9))
    if morning > local_now:
        return morning
    next_hour = (local_now + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    return next_hour if next_hour.date() == day else None


@dataclass
class CalendarSlot:
    """One hour of one day in the week view: where a click creates a post and a drop moves one."""

    at: datetime  # local wall-clock time, naive
    entries: list[CalendarEntry]
    is_past: bool
    # The workspace's posting times in this hour, in the viewer's zone ("09:30"), for the queue.
    posting_times: list[str] = field(default_factory=list)


@dataclass
class CalendarGrid:
    view: str
    anchor: date
    title: str
    weeks: list[list[CalendarDay]]
    previous: date
    next: date
    hours: list[tuple[int, list[CalendarSlot]]] = field(default_factory=list)

    @property
    def days(self) -> list[CalendarDay]:
        return [day for week in self.weeks for day in week]


def calendar_grid(*, workspace: Workspace, view: str, anchor: date, tz: ZoneInfo) -> CalendarGrid:
    """Planned runs (from schedules) and past runs (executions) of the workspace, by day in ``tz``."""
    from .scheduling import planned_times

    if view == "week":
        first = anchor - timedelta(days=anchor.weekday())
        last = first + timedelta(days=6)
        in_range_first, in_range_last = first, last
        title = f"Week of {first:%-d %b %Y}"
        previous, following = first - timedelta(days=7), first + timedelta(days=7)
    else:
        in_range_first = anchor.replace(day=1)
        in_range_last = (in_range_first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
        first = in_range_first - timedelta(days=in_range_first.weekday())
        last = in_range_last + timedelta(days=6 - in_range_last.weekday())
        title = f"{in_range_first:%B %Y}"
        previous = (in_range_first - timedelta(days=1)).replace(day=1)
        following = in_range_last + timedelta(days=1)
    start = datetime.combine(first, time.min, tzinfo=tz)
    end = datetime.combine(last + timedelta(days=1), time.min, tzinfo=tz)
    now = timezone.now()

    entries: list[CalendarEntry] = []
    schedules = Schedule.objects.filter(
        campaign__workspace=workspace, campaign__status__in=[CampaignStatus.SCHEDULED, CampaignStatus.ACTIVE]
    ).select_related("campaign")
    for schedule in schedules:
        window_start = max(start, now)
        if window_start >= end:
            continue
        for moment in planned_times(
            schedule, after=window_start - timedelta(microseconds=1), until=end, runs_done=0
        ):
            if schedule.next_run_at and moment >= schedule.next_run_at:
                entries.append(
                    CalendarEntry(
                        at=moment.astimezone(tz),
                        campaign=schedule.campaign,
                        kind="planned",
                        movable=schedule.kind == "once",
                    )
                )
    runs = (
        CampaignExecution.objects.filter(workspace=workspace, queued_at__gte=start, queued_at__lt=end)
        .select_related("campaign")
        .order_by("queued_at")
    )
    for execution in runs[:2000]:
        moment = execution.planned_for or execution.queued_at
        entries.append(CalendarEntry(at=moment.astimezone(tz), campaign=execution.campaign, kind=execution.status, execution=execution))

    by_day: dict[date, list[CalendarEntry]] = {}
    for entry in sorted(entries, key=lambda e: e.at):
        by_day.setdefault(entry.at.date(), []).append(entry)
    today = now.astimezone(tz).date()
    local_now = now.astimezone(tz).replace(tzinfo=None)
    days = [
        CalendarDay(
            day=d,
            in_range=in_range_first <= d <= in_range_last,
            is_today=d == today,
            entries=by_day.get(d, []),
            new_at=_new_post_time(d, local_now),
        )
        for d in (first + timedelta(days=i) for i in range((last - first).days + 1))
    ]
    weeks = [days[i : i + 7] for i in range(0, len(days), 7)]
    grid = CalendarGrid(view=view, anchor=anchor, title=title, weeks=weeks, previous=previous, next=following)
    if view == "week":
        posting = _posting_times(workspace=workspace, start=start, end=end, tz=tz)
        grid.hours = [
            (
                hour,
                [
                    CalendarSlot(
                        at=(slot := datetime.combine(day.day, time(hour))),
                        entries=[entry for entry in day.entries if entry.at.hour == hour],
                        is_past=slot + timedelta(hours=1) <= local_now,
                        posting_times=posting.get((day.day, hour), []),
                    )
                    for day in days
                ],
            )
            for hour in range(24)
        ]
    return grid


def _posting_times(*, workspace: Workspace, start: datetime, end: datetime, tz: ZoneInfo) -> dict[tuple[date, int], list[str]]:
    """The workspace's posting times between ``start`` and ``end``, by day and hour in ``tz``:
    they are on the workspace's clock, which may not be the viewer's."""
    from .scheduling import posting_moments

    found: dict[tuple[date, int], list[str]] = {}
    for moment in posting_moments(workspace=workspace, start=start, end=end):
        local = moment.astimezone(tz)
        found.setdefault((local.date(), local.hour), []).append(f"{local:%H:%M}")
    return found


@dataclass
class DashboardSummary:
    campaign_count: int
    scheduled_count: int
    destination_count: int
    upcoming: list[Schedule]
    recent_runs: list[CampaignExecution]
    failed_last_week: int


def upcoming_runs(*, workspace: Workspace, limit: int = 20) -> list[Schedule]:
    """The next planned runs of the workspace, soonest first, each with its campaign."""
    return list(
        Schedule.objects.filter(
            campaign__workspace=workspace,
            campaign__status__in=[CampaignStatus.SCHEDULED, CampaignStatus.ACTIVE],
            next_run_at__isnull=False,
        )
        .select_related("campaign")
        .order_by("next_run_at", "id")[:limit]
    )


def dashboard_summary(*, workspace: Workspace) -> DashboardSummary:
    campaigns = Campaign.objects.filter(workspace=workspace).exclude(status=CampaignStatus.ARCHIVED)
    week_ago = timezone.now() - timedelta(days=7)
    return DashboardSummary(
        campaign_count=campaigns.count(),
        scheduled_count=campaigns.filter(status__in=[CampaignStatus.SCHEDULED, CampaignStatus.ACTIVE]).count(),
        destination_count=destinations.ready_count(workspace=workspace),
        upcoming=upcoming_runs(workspace=workspace, limit=5),
        recent_runs=list(
            CampaignExecution.objects.filter(workspace=workspace).select_related("campaign").order_by("-queued_at")[:5]
        ),
        failed_last_week=CampaignExecution.objects.filter(
            workspace=workspace, status="failed", queued_at__gte=week_ago
        ).count(),
    )


RUN_PAGE_SIZE = 50
_EPOCH = datetime(1970, 1, 1, tzinfo=ZoneInfo("UTC"))


@dataclass
class RunPage:
    runs: list[CampaignExecution]
    older_cursor: str  # "" on the last page


def run_list(
    *, workspace: Workspace, status: str = "", source: str = "", since: datetime | None = None, campaign_id: int | None = None
) -> QuerySet[CampaignExecution]:
    """The workspace's runs, newest first, narrowed by what is given."""
    runs = CampaignExecution.objects.filter(workspace=workspace)
    if status:
        runs = runs.filter(status=status)
    if source:
        runs = runs.filter(source=source)
    if since is not None:
        runs = runs.filter(queued_at__gte=since)
    if campaign_id is not None:
        runs = runs.filter(campaign_id=campaign_id)
    return runs.order_by("-queued_at", "-id")


def _runs_shown(*, workspace: Workspace, **filters) -> QuerySet[CampaignExecution]:
    """The runs with what a row of the list or the download shows: campaign, requester, steps."""
    return run_list(workspace=workspace, **filters).select_related("campaign", "requested_by").prefetch_related("steps")


def make_run_cursor(execution: CampaignExecution) -> str:
    """Where a page of runs ends: the last run's queue time (microseconds since 1970) and id."""
    return f"{(execution.queued_at - _EPOCH) // timedelta(microseconds=1)}.{execution.pk}"


def read_run_cursor(token: str) -> tuple[datetime, int] | None:
    """The (queue time, id) a cursor holds; None for a missing or garbled one."""
    try:
        micros, pk = (int(part) for part in token.split(".", 1))
        return _EPOCH + timedelta(microseconds=micros), pk
    except (ValueError, OverflowError):
        return None


def run_page(*, workspace: Workspace, older_than: str = "", size: int = RUN_PAGE_SIZE, **filters) -> RunPage:
    """A page of the workspace's runs read along (workspace, queued_at, id) from a cursor, never by OFFSET or COUNT."""
    runs = _runs_shown(workspace=workspace, **filters)
    if (position := read_run_cursor(older_than)) is not None:
        queued_at, pk = position
        runs = runs.filter(Q(queued_at__lt=queued_at) | Q(queued_at=queued_at, pk__lt=pk))
    found = list(runs[: size + 1])
    more = len(found) > size
    found = found[:size]
    return RunPage(runs=found, older_cursor=make_run_cursor(found[-1]) if more else "")


def run_rows(*, workspace: Workspace, **filters) -> tuple[list[str], Iterator[list]]:
    """Every run the filters give, as CSV rows, newest first; read in chunks, so that a long history fits in memory."""
    header = [
        "Run", "Campaign", "Source", "Requested by", "Status", "Error category", "Error",
        f"Queued ({timezone.get_current_timezone_name()})", "Started", "Finished", "Seconds", "Steps",
    ]
    runs = _runs_shown(workspace=workspace, **filters)

    def moment(value: datetime | None) -> str:
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S") if value else ""

    def rows():
        for run in runs.iterator(chunk_size=500):
            seconds = round((run.finished_at - run.started_at).total_seconds(), 1) if run.started_at and run.finished_at else None
            yield [
                run.uuid.hex,
                run.campaign.name,
                run.get_source_display(),
                run.requested_by.email if run.requested_by else "",
                run.get_status_display(),
                run.get_error_category_display() if run.error_category else "",
                run.error_message,
                moment(run.queued_at),
                moment(run.started_at),
                moment(run.finished_at),
                seconds,
                "; ".join(f"{step.label}: {step.get_status_display()}" for step in run.steps.all()),
            ]

    return header, rows()


def hashtag_groups(*, workspace: Workspace) -> list[HashtagGroup]:
    return list(HashtagGroup.objects.filter(workspace=workspace).order_by("name", "id"))


def campaign_comments(*, campaign: Campaign, limit: int = 100) -> list[CampaignComment]:
    """The campaign's latest comments, oldest of them first, as a conversation reads."""
    latest = (
        CampaignComment.objects.filter(workspace_id=campaign.workspace_id, campaign=campaign)
        .select_related("author")
        .order_by("-created_at", "-id")[:limit]
    )
    return list(reversed(latest))
