"""Campaigns from a spreadsheet: many posts written as CSV rows, checked row by row, created and scheduled at once.

Every row goes through the same services as the campaign form and the schedule page
(``campaign_create``, ``campaign_schedule``), so the caption rules, the plan's limits, the
destinations and the quota rule are the ones the pages apply. A check runs the whole import in a
transaction that is rolled back, so what it reports is what the import would do, conflicts between
the file's own rows included; an import commits all of its rows or none.

Images named by address (``image_url``) are downloaded once per file, before the rows are
checked, through the same guarded fetch as content sources (public addresses only, a size limit
and a deadline), so a check and its import see the same images.
"""

from __future__ import annotations

import csv
import io
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from integrations import fetch
from marketing.csv_export import FORMULA_STARTS
from marketing.models import User, Workspace
from marketing.timefmt import when

from . import destinations, images, recurrence, selectors
from .models import Campaign, PostFormat, ScheduleKind
from .scheduling import Plan, campaign_queue, campaign_schedule, plan_from_input
from .services import campaign_create, campaign_image_add, image_limit

MAX_ROWS = 200
MAX_BYTES = 1_000_000
# Downloaded while the page waits, one after another in the request's own thread (a thread of
# its own would open a database connection nobody closes): a file names at most this many
# images, and what is not downloaded within the budget is refused with the reason.
MAX_IMAGE_URLS = 20
DOWNLOAD_BUDGET_SECONDS = 30.0
_clock = time.monotonic
# What each column holds, in the order a new file lists them; shown on the import page.
COLUMNS: dict[str, str] = {
    "name": "Required. The campaign's name.",
    "caption": "The post's text.",
    "hashtags": "Separated by spaces, with or without #.",
    "first_comment": "Posted as the first comment right after publishing.",
    "brief": "What the image is about; a run without an image generates one from it.",
    "targets": "Where it publishes: the names the campaign form lists (@account, a workflow's name) "
    "or keys such as instagram:12, several separated by commas or |. Empty: a draft to finish later.",
    "publish_at": "When to publish, once: 2027-01-15 09:30, on the time zone's clock; or queue: the next free "
    "posting time of the workspace, row after row. Empty: not scheduled.",
    "cron": "Or a recurrence instead, as the schedule page takes it: 0 9 * * 1 is Mondays at 9:00.",
    "timezone": "The zone of publish_at and cron, such as Europe/Paris. Empty: the workspace's zone.",
    "format": "post (a feed post, the default) or story. A story takes one image.",
    "image_url": "Images by address (http:// or https://), separated by spaces or |, in carousel order: each is "
    f"downloaded and cropped to Instagram's shapes if it must be. At most {MAX_IMAGE_URLS} in a file.",
}
REQUIRED = ("name",)
QUEUE = "queue"
# Spreadsheets save with the separator of the user's locale; pasted cells come tab-separated.
DELIMITERS = (",", ";", "\t")
TARGET_SEPARATORS = str.maketrans({";": ",", "|": ",", "\n": ","})
FIELD_COLUMNS = {"run_at": "publish_at", "__all__": ""}


@dataclass
class ImportRow:
    """One data row of the file as the check or the import saw it; ``line`` counts the header as 1."""

    line: int
    name: str
    targets: list[str] = field(default_factory=list)
    schedule: str = ""
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    campaign: Campaign | None = None
    images: list[images.PreparedImage] = field(default_factory=list)  # attached once every row is sound


@dataclass
class ImportReport:
    rows: list[ImportRow] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # about the whole file
    committed: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems and bool(self.rows) and not any(row.errors for row in self.rows)

    @property
    def error_count(self) -> int:
        return len(self.problems) + sum(1 for row in self.rows if row.errors)

    @property
    def scheduled_count(self) -> int:
        return sum(1 for row in self.rows if row.schedule)


class ImportRefused(Exception):
    """The import found problems, so it created nothing; the report says which."""

    def __init__(self, report: ImportReport) -> None:
        super().__init__(f"{report.error_count} problem(s); nothing was imported.")
        self.report = report


def decode(data: bytes) -> str:
    """An uploaded file's text: UTF-8, with or without the byte order mark spreadsheets write."""
    if len(data) > MAX_BYTES:
        raise ValidationError(f"The file is over {MAX_BYTES // 1_000_000} MB. Split it into smaller files.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValidationError(
            "The file is not UTF-8 text. Save it from the spreadsheet as “CSV UTF-8”."
        ) from error


def campaigns_import(*, workspace: Workspace, by: User | None, text: str, commit: bool) -> ImportReport:
    """Checks every row of ``text`` (CSV with a header row) and, with ``commit``, creates its
    campaigns and schedules. With ``commit`` and any problem, raises ImportRefused and nothing is
    kept; without it, the report tells what an import would do and nothing is kept either.
    """
    report = ImportReport()
    records = _records(text, report)
    if report.problems:
        if commit:
            raise ImportRefused(report)
        return report
    choices = _target_index(workspace)
    downloads = _download_images(records, report)
    if report.problems:
        if commit:
            raise ImportRefused(report)
        return report
    with transaction.atomic():
        for line, record in records:
            report.rows.append(
                _row_import(workspace=workspace, by=by, line=line, record=record, choices=choices, downloads=downloads)
            )
        if commit and not report.ok:
            raise ImportRefused(report)  # leaves the atomic block: every row rolls back
        if commit:
            _attach_images(report.rows)
        if not commit:
            transaction.set_rollback(True)
            for row in report.rows:
                row.campaign = None
    report.committed = commit
    return report


def campaign_export_rows(*, workspace: Workspace, search: str = "", status: str = "", sort: str = "") -> Iterator[list[str]]:
    """The campaigns the list's filters show, in the columns an import reads, so a file exported,
    edited and imported again makes new campaigns like them; read in chunks, for long lists."""
    labels = _target_labels(workspace)
    campaigns = (
        selectors.campaign_list(workspace=workspace, search=search, status=status, sort=sort or selectors.DEFAULT_SORT)
        .select_related("schedule")
        .prefetch_related("targets", "images")
    )
    for campaign in campaigns.iterator(chunk_size=1000):
        schedule = getattr(campaign, "schedule", None)
        run_at = ""
        if schedule is not None and schedule.kind == ScheduleKind.ONCE and schedule.run_at:
            run_at = schedule.run_at.astimezone(recurrence.zone(schedule.timezone)).strftime("%Y-%m-%d %H:%M")
        yield [
            campaign.name,
            campaign.caption,
            campaign.hashtags,
            campaign.first_comment,
            campaign.brief,
            ", ".join(labels.get(target.key, target.key) for target in campaign.targets.all()),
            run_at,
            schedule.cron if schedule is not None and schedule.kind == ScheduleKind.RECURRING else "",
            schedule.timezone if schedule is not None else "",
            campaign.format,
            " ".join(image.public_url for image in campaign.images.all() if image.publishable),
        ]


def _target_labels(workspace: Workspace) -> dict[str, str]:
    """How a file names each of the workspace's destinations: its label, or its key where two share the label."""
    described = [
        destination.describe(obj)
        for destination in destinations.registered()
        for obj in destination.queryset(workspace_id=workspace.pk)
    ]
    counts = Counter(choice.label.lower() for choice in described)
    return {choice.key: choice.label if counts[choice.label.lower()] == 1 else choice.key for choice in described}


def sample_rows(*, workspace: Workspace) -> list[list[str]]:
    """Rows in the order of COLUMNS that this workspace can import as they are: tomorrow and a weekly post."""
    offered = [choice for choices in destinations.target_choices(workspace=workspace).values() for choice in choices]
    target = offered[0].label if offered else ""
    tomorrow = (timezone.now().astimezone(recurrence.zone(workspace.timezone)) + timedelta(days=1)).date()
    return [
        [
            "Spring collection teaser", "Our spring collection lands Friday.", "#spring #newin", "Link in bio!",
            "Pastel linen shirts on a sunny terrace", target, f"{tomorrow.isoformat()} 09:30", "", workspace.timezone,
            PostFormat.POST, "",
        ],
        [
            "Monday tip", "A styling tip to start the week.", "#mondaymotivation", "",
            "A flat lay of a linen shirt, jeans and sneakers", target, "", "0 9 * * 1", workspace.timezone,
            PostFormat.STORY, "",
        ],
    ]


def _records(text: str, report: ImportReport) -> list[tuple[int, dict[str, str]]]:
    text = text.lstrip("\ufeff")
    if "\x00" in text:
        report.problems.append("The file holds NUL characters: it is not a CSV file.")
        return []
    lines = text.splitlines()
    if not any(line.strip() for line in lines):
        report.problems.append("The file is empty. Its first row names the columns, such as name,caption,publish_at.")
        return []
    header_line = next(line for line in lines if line.strip())
    delimiter = max(DELIMITERS, key=lambda candidate: _known_columns(header_line, candidate))
    try:
        reader = csv.reader(io.StringIO(text), delimiter=delimiter, strict=True)
        rows = [row for row in reader if any(cell.strip() for cell in row)]
    except csv.Error as error:
        report.problems.append(f"The file cannot be read as CSV ({error}). Save it again from the spreadsheet.")
        return []
    header = [cell.strip().lower().replace(" ", "_") for cell in rows[0]]
    unknown = [name for name in header if name not in COLUMNS]
    if unknown:
        report.problems.append(
            f"Unknown column{'s' if len(unknown) > 1 else ''}: {', '.join(repr(name) for name in unknown)}. "
            f"The columns are: {', '.join(COLUMNS)}."
        )
    if doubled := sorted({name for name in header if header.count(name) > 1}):
        report.problems.append(f"Each column once: {', '.join(doubled)} appears more than once.")
    if missing := [name for name in REQUIRED if name not in header]:
        report.problems.append(f"The first row must name the columns; {', '.join(missing)} is missing.")
    data = rows[1:]
    if not data:
        report.problems.append("The file has a header but no campaign rows.")
    elif len(data) > MAX_ROWS:
        report.problems.append(f"At most {MAX_ROWS} campaigns a file; this one has {len(data)}. Split it.")
    if report.problems:
        return []
    records = []
    for number, row in enumerate(data, start=2):
        if len(row) > len(header) and any(cell.strip() for cell in row[len(header):]):
            report.problems.append(f"Line {number}: more cells than columns. Quote cells holding a separator.")
        records.append((number, {name: _unescaped(row[i]) if i < len(row) else "" for i, name in enumerate(header)}))
    return [] if report.problems else records


def _unescaped(cell: str) -> str:
    """A cell as written before a CSV download (ours included) kept it from reading as a formula: '@brand is @brand."""
    return cell[1:] if cell.startswith("'") and cell[1:2] in FORMULA_STARTS else cell


def _known_columns(header_line: str, delimiter: str) -> int:
    cells = next(csv.reader([header_line], delimiter=delimiter), [])
    return sum(1 for cell in cells if cell.strip().lower().replace(" ", "_") in COLUMNS)


def _target_index(workspace: Workspace) -> dict[str, list[destinations.Choice]]:
    """Each offered destination under its key and its label, both lower-cased; a label two share lists both."""
    index: dict[str, list[destinations.Choice]] = {}
    for choices in destinations.target_choices(workspace=workspace).values():
        for choice in choices:
            for name in {choice.key.lower(), choice.label.lower(), choice.label.lower().lstrip("@")}:
                index.setdefault(name, []).append(choice)
    return index


def _attach_images(rows: list[ImportRow]) -> None:
    """The rows' images stored on their campaigns: only by an import whose rows are all sound, as
    image files are not rolled back with the database (a check stores none)."""
    stored: list[str] = []
    try:
        for row in rows:
            for prepared in row.images:
                stored.extend(campaign_image_add(campaign=row.campaign, prepared=prepared).stored_paths)
    except Exception:
        for path in stored:
            default_storage.delete(path)
        raise


def _image_urls(cell: str) -> list[str]:
    return [url for url in cell.replace("|", " ").split() if url]


def _download_images(records: list[tuple[int, dict[str, str]]], report: ImportReport) -> dict[str, bytes | str]:
    """Each image address of the file, downloaded: its bytes, or why it could not be (a sentence)."""
    urls = list(dict.fromkeys(url for _, record in records for url in _image_urls(record.get("image_url", ""))))
    if len(urls) > MAX_IMAGE_URLS:
        report.problems.append(
            f"At most {MAX_IMAGE_URLS} image addresses a file; this one has {len(urls)}. Split it, or add the "
            "images on each campaign's page."
        )
        return {}

    deadline = _clock() + DOWNLOAD_BUDGET_SECONDS
    downloads: dict[str, bytes | str] = {}
    for url in urls:
        if _clock() > deadline:
            downloads[url] = (
                f"Not downloaded: the file's images took over {DOWNLOAD_BUDGET_SECONDS:.0f} s. "
                "Import fewer at a time, or add them on the campaign's page."
            )
        elif problem := fetch.check_url(url):
            downloads[url] = problem
        else:
            try:
                downloads[url] = fetch.get(url, limit=images.MAX_UPLOAD_BYTES).body
            except fetch.FetchError as error:
                downloads[url] = error.message
    return downloads


def _row_images(record: dict[str, str], downloads: dict[str, bytes | str], row: ImportRow, *, format: str) -> list:
    """The row's images made Instagram-ready, in order; what cannot be used goes in the row's errors."""
    urls = _image_urls(record.get("image_url", ""))
    if len(urls) > image_limit(format):
        row.errors.append(
            "image_url: a story takes one image." if format == PostFormat.STORY
            else f"image_url: a campaign holds at most {image_limit(format)} images."
        )
        return []
    prepared = []
    for url in urls:
        found = downloads.get(url, "It was not downloaded.")
        if isinstance(found, str):
            row.errors.append(f"image_url: {url}: {found}")
            continue
        try:
            prepared.append(images.prepare_upload(io.BytesIO(found), fit="crop", story=format == PostFormat.STORY))
        except ValidationError as error:
            row.errors.append(f"image_url: {url}: {' '.join(error.messages)}")
    return prepared


def _row_import(
    *,
    workspace: Workspace,
    by: User | None,
    line: int,
    record: dict[str, str],
    choices: dict[str, list[destinations.Choice]],
    downloads: dict[str, bytes | str],
) -> ImportRow:
    row = ImportRow(line=line, name=record.get("name", "").strip())
    format = record.get("format", "").strip().lower() or PostFormat.POST
    row.images = _row_images(record, downloads, row, format=format)
    keys = _targets(record.get("targets", ""), choices, row)
    queued = record.get("publish_at", "").strip().lower() == QUEUE
    plan = None if queued else _plan(record, workspace=workspace, row=row)
    if queued and record.get("cron", "").strip():
        row.errors.append("publish_at, cron: give one of them: queue, or a recurrence.")
    if not row.name:
        row.errors.append("name: a campaign needs a name.")
    if row.errors:
        return row
    try:
        # A savepoint per row: a refused row leaves the rows before it as they were.
        with transaction.atomic():
            row.campaign = campaign_create(
                workspace=workspace,
                by=by,
                name=row.name,
                brief=record.get("brief", ""),
                caption=record.get("caption", ""),
                hashtags=record.get("hashtags", ""),
                first_comment=record.get("first_comment", ""),
                format=format,
                targets=keys,
            )
            if queued:
                moment, report = campaign_queue(campaign=row.campaign, by=by, via="import")
                row.warnings.extend(report.warnings)
                row.schedule = f"Queue: {when(moment, workspace.timezone)}"
            elif plan is not None:
                report = campaign_schedule(campaign=row.campaign, plan=plan, by=by, via="import", accept_warnings=True)
                row.warnings.extend(report.warnings)
                row.schedule = _describe(plan)
    except ValidationError as error:
        row.campaign, row.schedule = None, ""
        row.errors.extend(_messages(error))
    return row


def _targets(cell: str, choices: dict[str, list[destinations.Choice]], row: ImportRow) -> list[str]:
    keys = []
    for name in filter(None, (part.strip() for part in cell.translate(TARGET_SEPARATORS).split(","))):
        found = choices.get(name.lower()) or choices.get(name.lower().lstrip("@"))
        if not found:
            row.errors.append(f"targets: no account or workflow named “{name}” in this workspace.")
        elif len(found) > 1:
            row.errors.append(f"targets: “{name}” names {len(found)} destinations; use its key, such as {found[0].key}.")
        else:
            keys.append(found[0].key)
            row.targets.append(found[0].label)
    return keys


def _plan(record: dict[str, str], *, workspace: Workspace, row: ImportRow) -> Plan | None:
    publish_at, cron = record.get("publish_at", "").strip(), record.get("cron", "").strip()
    zone = record.get("timezone", "").strip() or workspace.timezone
    if not publish_at and not cron:
        return None
    if publish_at and cron:
        row.errors.append("publish_at, cron: give one of them: a time to publish once, or a recurrence.")
        return None
    run_at = None
    if publish_at:
        run_at = _moment(publish_at, row)
        if run_at is None:
            return None
    try:
        return plan_from_input(
            kind=ScheduleKind.ONCE if publish_at else ScheduleKind.RECURRING, timezone=zone, run_at=run_at, cron=cron
        )
    except ValidationError as error:
        row.errors.extend(_messages(error))
        return None


def _moment(value: str, row: ImportRow) -> datetime | None:
    """A wall-clock time (read in the row's zone) or, with an offset, an exact one."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        moment = None
    if moment is None or len(value) <= 10:
        row.errors.append(f"publish_at: “{value}” is not a date and time such as 2027-01-15 09:30.")
        return None
    return moment


def _describe(plan: Plan) -> str:
    if plan.kind == ScheduleKind.ONCE:
        return f"Once, {when(plan.run_at, plan.timezone)}"
    return f"{recurrence.describe_cron(plan.cron)} ({plan.timezone})"


def _messages(error: ValidationError) -> list[str]:
    if not hasattr(error, "error_dict"):
        return list(error.messages)
    named = []
    for name, messages in error.message_dict.items():
        column = FIELD_COLUMNS.get(name, name)
        named.extend(f"{column}: {message}" if column else message for message in messages)
    return named
