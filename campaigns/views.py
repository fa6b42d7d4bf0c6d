import logging
import uuid
from datetime import date, datetime, timedelta
from typing import NoReturn
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files import File
from django.db import transaction
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET, require_POST

from marketing import idempotency
from marketing.csv_export import csv_filename, csv_response
from marketing.selectors import get_for_workspace_or_404, member_list, pending_invitations_for_user
from marketing.services import invitation_token
from marketing.timefmt import when
from marketing.web import add_service_errors, error_text, form_error_text, workspace_required

from . import approval, destinations, executions, imports, recurrence, scheduling, selectors, services
from .captions import MAX_CAPTION_CHARS, render_caption, text_length
from .forms import (
    CampaignBulkForm,
    CampaignFilterForm,
    CampaignForm,
    CampaignImportForm,
    ChangesRequestForm,
    CommentForm,
    HashtagGroupForm,
    PostingSlotForm,
    RunFilterForm,
    ScheduleForm,
    StatusForm,
)
from .models import (
    Campaign,
    CampaignComment,
    CampaignExecution,
    CampaignImage,
    CampaignStatus,
    HashtagGroup,
    ImageGeneration,
    PostingSlot,
    ScheduleKind,
)

logger = logging.getLogger(__name__)

PAGE_SIZE = 25
# Each status's label, read from a dict: get_status_display() rebuilt the choices per call (0.12 ms a page).
STATUS_LABELS = dict(CampaignStatus.choices)


def _campaign(request: HttpRequest, campaign_id: int) -> Campaign:
    return get_for_workspace_or_404(
        selectors.campaign_for_detail(workspace=request.workspace), workspace=request.workspace, pk=campaign_id
    )


@workspace_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """The home page: the workspace's campaigns and runs at a glance, and invitations waiting."""
    context = {
        "summary": selectors.dashboard_summary(workspace=request.workspace),
        "next_free_slot": scheduling.next_free_slot(workspace=request.workspace),
        "member_count": member_list(workspace=request.workspace).count(),
        "waiting_for_approval": (
            approval.waiting_for_approval(workspace=request.workspace) if request.membership.can_manage_members else []
        ),
        "pending_invitations": [
            (invitation, invitation_token(invitation)) for invitation in pending_invitations_for_user(user=request.user)
        ],
    }
    return render(request, "campaigns/dashboard.html", context)


@workspace_required
@require_GET
def campaign_list(request: HttpRequest) -> HttpResponse:
    filters = CampaignFilterForm(request.GET)
    values = filters.values()
    try:
        number = int(request.GET.get("page", 1))
    except ValueError:
        number = 1
    page = selectors.campaign_page(
        workspace=request.workspace,
        page=number,
        size=PAGE_SIZE,
        after=request.GET.get("after", ""),
        before=request.GET.get("before", ""),
        **values,
    )
    # The filters, for the page links to keep; each link adds its own page and cursor.
    query = request.GET.copy()
    for name in ("page", "after", "before"):
        query.pop(name, None)
    is_filtered = bool(values["search"] or values["status"])
    context = {
        "filters": values,
        "status_choices": CampaignFilterForm.base_fields["status"].choices,
        "sort_choices": CampaignFilterForm.base_fields["sort"].choices,
        "page": page,
        "query": query.urlencode(),
        "is_filtered": is_filtered,
        # Only an empty first page needs to ask whether the workspace has any campaign at all.
        "has_any": bool(page.campaigns) or page.number > 1 or (is_filtered and selectors.campaign_list(workspace=request.workspace, status="all").exists()),
        "status_labels": STATUS_LABELS,
        "bulk_actions": services.bulk_action_choices(workspace=request.workspace),
        "approval_badges": approval.approval_badges(workspace=request.workspace, campaigns=page.campaigns),
    }
    # The page's content is Jinja2 (templates/jinja2/campaigns/), in the layout by campaigns/list.html.
    if request.htmx and not request.htmx.boosted:
        return render(request, "campaigns/results.html", context, using="jinja2")
    return render(request, "campaigns/list.html", context)


@workspace_required
@require_POST
def campaign_bulk(request: HttpRequest) -> HttpResponse:
    """Pause, activate, archive or delete the campaigns ticked in the list; back to the list as it was."""
    form = CampaignBulkForm(request.POST)
    back = reverse("campaign_list")
    if not form.is_valid():
        messages.error(request, form_error_text(form))
        return redirect(back)
    # Only the list's own query string is taken back: never an address of the sender's choosing.
    if query := form.cleaned_data["next"].lstrip("?"):
        back = f"{back}?{QueryDict(query).urlencode()}"
    try:
        outcome = services.campaign_bulk_apply(
            workspace=request.workspace, ids=form.cleaned_data["ids"], action=form.cleaned_data["action"], by=request.user
        )
    except ValidationError as error:
        messages.error(request, error_text(error))
        return redirect(back)
    _, done_word = services.BULK_ACTIONS[form.cleaned_data["action"]]
    if outcome.done:
        count = len(outcome.done)
        messages.success(request, f"{count} campaign{'s' if count > 1 else ''} {done_word}.")
    for campaign, reason in outcome.refused[:5]:
        messages.warning(request, f"“{campaign.name}” was not {done_word}: {reason}")
    if len(outcome.refused) > 5:
        messages.warning(request, f"{len(outcome.refused) - 5} more were not {done_word}.")
    if not outcome.done and not outcome.refused:
        messages.error(request, "None of the selected campaigns is in this workspace any more.")
    return redirect(back)


@workspace_required
@require_GET
def run_list(request: HttpRequest) -> HttpResponse:
    """Every run of the workspace, newest first, by status, what started it, when, and campaign."""
    form = RunFilterForm(request.GET)
    values = form.values()
    campaign = _campaign(request, values["campaign_id"]) if values["campaign_id"] else None
    page = selectors.run_page(workspace=request.workspace, older_than=request.GET.get("older", ""), **values)
    query = request.GET.copy()
    query.pop("older", None)
    context = {
        "form": form,
        "page": page,
        "campaign": campaign,
        "query": query.urlencode(),
        "is_filtered": any(value for value in values.values()),
        "is_first_page": "older" not in request.GET,
    }
    return render(request, "campaigns/runs.html", context)


@workspace_required
@require_GET
def run_list_csv(request: HttpRequest) -> HttpResponse:
    values = RunFilterForm(request.GET).values()
    if values["campaign_id"]:
        _campaign(request, values["campaign_id"])  # another workspace's campaign is a 404, not an empty file
    header, rows = selectors.run_rows(workspace=request.workspace, **values)
    filename = csv_filename(request.workspace.name, "runs", timezone.localdate().isoformat())
    return csv_response(filename=filename, header=header, rows=rows)


def _save_form(request: HttpRequest, form: CampaignForm, campaign: Campaign | None) -> Campaign | None:
    """Runs the create or update service and attaches the uploads; form errors go back on the form."""
    try:
        with transaction.atomic():
            if campaign is None:
                campaign = services.campaign_create(workspace=request.workspace, by=request.user, **form.service_fields)
            else:
                campaign = services.campaign_update(campaign=campaign, by=request.user, **form.service_fields)
            if form.alt_texts:
                services.campaign_images_describe(campaign=campaign, alt_texts=form.alt_texts)
            for prepared in form.cleaned_data["prepared_images"]:
                services.campaign_image_add(campaign=campaign, prepared=prepared)
    except ValidationError as error:
        add_service_errors(form, error)
        return None
    return campaign


def _slot_time(request: HttpRequest, value: str):
    """A calendar slot's wall-clock time ('2026-03-05T14:00') in the viewer's zone, aware; None if unreadable."""
    try:
        wall_clock = datetime.strptime(value.strip(), "%Y-%m-%dT%H:%M")
    except (ValueError, TypeError):
        return None
    if not recurrence.EARLIEST.year <= wall_clock.year < recurrence.LATEST.year:
        return None
    return recurrence.localize(wall_clock, recurrence.zone(request.user.timezone))


@workspace_required
def campaign_create(request: HttpRequest) -> HttpResponse:
    # From an empty calendar slot: the new campaign is scheduled once at that time.
    slot = request.POST.get("at") or request.GET.get("at") or ""
    planned = _slot_time(request, slot) if slot else None
    form = CampaignForm(request.POST or None, request.FILES or None, workspace=request.workspace)
    if request.method == "POST" and form.is_valid():
        campaign = _save_form(request, form, None)
        if campaign is not None:
            messages.success(request, f"Campaign “{campaign.name}” created.")
            if planned is not None:
                _schedule_at_slot(request, campaign, planned)
            return redirect(campaign)
    return render(request, "campaigns/form.html", _form_context(form, planned=planned, slot=slot if planned else ""))


def _schedule_at_slot(request: HttpRequest, campaign: Campaign, planned) -> None:
    plan = scheduling.Plan(kind=ScheduleKind.ONCE, timezone=request.user.timezone, run_at=planned)
    try:
        report = scheduling.campaign_schedule(campaign=campaign, plan=plan, by=request.user, accept_warnings=True)
    except ValidationError as error:
        messages.error(request, f"Not scheduled: {error_text(error)}")
        return
    for warning in report.warnings:
        messages.warning(request, warning)
    messages.success(request, f"Scheduled for {when(planned)}.")


@workspace_required
def campaign_edit(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = _campaign(request, campaign_id)
    images = list(campaign.images.all())
    form = CampaignForm(request.POST or None, request.FILES or None, instance=campaign, workspace=request.workspace, images=images)
    if request.method == "POST" and form.is_valid():
        if _save_form(request, form, campaign) is not None:
            messages.success(request, "Campaign saved.")
            return redirect(campaign)
    return render(request, "campaigns/form.html", _form_context(form, campaign=campaign, images=images))


def _caption_counter(*, caption: str, hashtags: str) -> dict:
    """The caption's length as posted, counted by the rule the limit is checked with."""
    length = text_length(render_caption(caption=caption, hashtags=hashtags))
    return {"length": length, "max": MAX_CAPTION_CHARS, "over": length > MAX_CAPTION_CHARS}


@workspace_required
@require_POST
def caption_count(request: HttpRequest) -> HttpResponse:
    """The form's live counter: the browser shows the server's number, so both pages agree."""
    counter = _caption_counter(caption=request.POST.get("caption", ""), hashtags=request.POST.get("hashtags", ""))
    return render(request, "campaigns/_caption_counter.html", {"counter": counter, "live": True})


def _form_context(form: CampaignForm, **extra) -> dict:
    data = form.data if form.is_bound else {}
    caption = data.get("caption", form.initial.get("caption", getattr(form.instance, "caption", "")))
    hashtags = data.get("hashtags", form.initial.get("hashtags", getattr(form.instance, "hashtags", "")))
    return {
        "form": form,
        "counter": _caption_counter(caption=caption or "", hashtags=hashtags or ""),
        "hashtag_groups": selectors.hashtag_groups(workspace=form.workspace),
        **extra,
    }


def _executions_context(campaign: Campaign) -> dict:
    """What the run history fragment needs, and no more: it is polled every 2 s while a run goes on."""
    executions = selectors.execution_history(campaign=campaign)
    return {"campaign": campaign, "executions": executions, "run_in_progress": any(not e.is_finished for e in executions)}


def _detail_context(request: HttpRequest, campaign: Campaign) -> dict:
    generation = selectors.latest_generation(campaign=campaign)
    return {
        **_executions_context(campaign),
        "run_key": uuid.uuid4().hex,
        "images": list(campaign.images.all()),
        "caption": render_caption(caption=campaign.caption, hashtags=campaign.hashtags),
        "counter": _caption_counter(caption=campaign.caption, hashtags=campaign.hashtags),
        **_preview_of(campaign),
        "generation": generation,
        "targets": selectors.campaign_targets(campaign=campaign),
        "approval": approval.approval_state(campaign),
        "can_approve": request.membership.can_manage_members,
        "status_changes": campaign.status_changes.select_related("by")[:10],
        "comments": selectors.campaign_comments(campaign=campaign),
        "comment_form": CommentForm(),
        "schedule": getattr(campaign, "schedule", None),
        "insight_panels": destinations.insight_panels(campaign=campaign),
        "schedule_words": selectors.schedule_words(getattr(campaign, "schedule", None)),
        "next_statuses": [
            (value, label)
            for value, label in CampaignStatus.choices
            if services.can_transition(campaign, value) and value not in (CampaignStatus.COMPLETED, CampaignStatus.FAILED)
        ],
    }


@workspace_required
@require_GET
def campaign_detail(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = _campaign(request, campaign_id)
    return render(request, "campaigns/detail.html", _detail_context(request, campaign))


@workspace_required
@require_GET
def campaign_executions(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """The execution history fragment, polled while a run is in progress."""
    campaign = _campaign(request, campaign_id)
    return render(request, "campaigns/detail.html#executions", _executions_context(campaign))


@workspace_required
@require_POST
def campaign_run(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """Run now. The form carries a key made when the page was drawn, so a double submit queues one run."""
    campaign = _campaign(request, campaign_id)

    def run() -> idempotency.Answer:
        execution = executions.execution_create(campaign=campaign, by=request.user)
        return idempotency.Answer(status=202, body={"execution": execution.pk})

    try:
        key = idempotency.check_key(request.POST.get("idempotency_key", ""))
    except idempotency.BadKey:
        key = ""
    try:
        if key:
            answer = idempotency.once(
                workspace=request.workspace,
                key=key,
                fingerprint=idempotency.fingerprint("campaign_run", str(campaign.pk)),
                work=run,
            )
        else:
            answer = run()
    except (ValidationError, idempotency.KeyReused) as error:
        messages.error(request, error_text(error) if isinstance(error, ValidationError) else str(error))
    else:
        if answer.replayed:
            messages.info(request, "This run was already queued. Its steps appear below as they happen.")
        else:
            messages.success(request, "Run queued. Its steps appear below as they happen.")
    return redirect(campaign)


@workspace_required
@require_POST
def campaign_approve(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = _campaign(request, campaign_id)
    try:
        approval.campaign_approve(campaign=campaign, by=request.membership)
    except ValidationError as error:
        messages.error(request, error_text(error))
    except PermissionDenied as error:
        messages.error(request, str(error))
    else:
        messages.success(request, "Approved: the campaign publishes as it is now. Any change needs a new approval.")
    return redirect(campaign)


@workspace_required
@require_POST
def campaign_comment_add(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = _campaign(request, campaign_id)
    form = CommentForm(request.POST)
    if not form.is_valid():
        messages.error(request, form_error_text(form))
    else:
        try:
            services.comment_add(campaign=campaign, by=request.user, body=form.cleaned_data["body"])
        except ValidationError as error:
            messages.error(request, error_text(error))
    return redirect(campaign.get_absolute_url() + "#comments")


@workspace_required
@require_POST
def campaign_comment_delete(request: HttpRequest, campaign_id: int, comment_id: int) -> HttpResponse:
    campaign = _campaign(request, campaign_id)
    comment = get_for_workspace_or_404(CampaignComment.objects.filter(campaign=campaign), workspace=request.workspace, pk=comment_id)
    try:
        services.comment_delete(comment=comment, by=request.membership)
    except ValidationError as error:
        messages.error(request, error_text(error))
    return redirect(campaign.get_absolute_url() + "#comments")


@workspace_required
@require_POST
def campaign_changes_request(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = _campaign(request, campaign_id)
    form = ChangesRequestForm(request.POST)
    if not form.is_valid():
        messages.error(request, form_error_text(form))
        return redirect(campaign)
    try:
        approval.campaign_changes_request(campaign=campaign, by=request.membership, note=form.cleaned_data["note"])
    except ValidationError as error:
        messages.error(request, error_text(error))
    except PermissionDenied as error:
        messages.error(request, str(error))
    else:
        messages.success(request, "Changes asked for: the member who asked for approval has been emailed your note.")
    return redirect(campaign)


@workspace_required
@require_POST
def campaign_approval_request(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = _campaign(request, campaign_id)
    try:
        approval.campaign_approval_request(campaign=campaign, by=request.user)
    except ValidationError as error:
        messages.error(request, error_text(error))
    else:
        messages.success(request, "Approval asked for: the workspace's owners and admins have been emailed.")
    return redirect(campaign)


@workspace_required
@require_POST
def campaign_duplicate(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = _campaign(request, campaign_id)
    copy = services.campaign_duplicate(campaign=campaign, by=request.user)
    messages.success(request, f"Duplicated as “{copy.name}”. You are editing the copy.")
    return redirect("campaign_edit", copy.pk)


@workspace_required
@require_POST
def campaign_status(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = _campaign(request, campaign_id)
    form = StatusForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a status.")
        return redirect(campaign)
    try:
        services.campaign_transition(campaign=campaign, to=form.cleaned_data["to"], by=request.user)
    except ValidationError as error:
        messages.error(request, error_text(error))
    else:
        messages.success(request, f"Campaign is now {campaign.get_status_display().lower()}.")
    return redirect(campaign)


@workspace_required
def campaign_delete(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = _campaign(request, campaign_id)
    if request.method == "POST":
        try:
            services.campaign_delete(campaign=campaign, by=request.user)
        except ValidationError as error:
            messages.error(request, error_text(error))
            return redirect(campaign)
        messages.success(request, f"Campaign “{campaign.name}” deleted.")
        return redirect("campaign_list")
    return render(request, "campaigns/confirm_delete.html", {"campaign": campaign})


@workspace_required
def campaign_import(request: HttpRequest) -> HttpResponse:
    """Campaigns from a CSV file: a check shows each row as it would be imported, then one click imports them all."""
    form = CampaignImportForm(request.POST if request.method == "POST" else None, request.FILES or None)
    report = confirm_form = None
    if request.method == "POST" and form.is_valid():
        text = form.cleaned_data["text"]
        if form.cleaned_data["confirm"]:
            try:
                answer = _import_once(request, text, form.cleaned_data["idempotency_key"])
            except imports.ImportRefused as refused:
                report = refused.report
                messages.error(request, "Nothing was imported: the file changed or the workspace did since the check. See below.")
            except idempotency.KeyReused as error:
                messages.error(request, str(error))
            else:
                if answer.replayed:
                    messages.info(request, "These campaigns were already imported.")
                else:
                    _imported_messages(request, answer.body)
                return redirect(f"{reverse('campaign_list')}?sort=created")
        else:
            report = imports.campaigns_import(workspace=request.workspace, by=request.user, text=text, commit=False)
        # The rows stay in the box to be corrected; the import button sends exactly what was checked.
        form = CampaignImportForm(initial={"text": text})
        if report is not None and report.ok:
            confirm_form = CampaignImportForm(initial={"text": text, "confirm": True, "idempotency_key": uuid.uuid4().hex})
    context = {
        "form": form,
        "confirm_form": confirm_form,
        "report": report,
        "columns": imports.COLUMNS,
        "max_rows": imports.MAX_ROWS,
    }
    return render(request, "campaigns/import.html", context)


def _import_once(request: HttpRequest, text: str, key: str) -> idempotency.Answer:
    """Imports ``text``; with the key the check's page made, a second click replays the first import."""

    def work() -> idempotency.Answer:
        report = imports.campaigns_import(workspace=request.workspace, by=request.user, text=text, commit=True)
        return idempotency.Answer(
            status=201, body={"created": len(report.rows), "scheduled": report.scheduled_count}
        )

    try:
        key = idempotency.check_key(key)
    except idempotency.BadKey:
        return work()
    fingerprint = idempotency.fingerprint("campaign_import", text)
    return idempotency.once(workspace=request.workspace, key=key, fingerprint=fingerprint, work=work)


def _imported_messages(request: HttpRequest, outcome: dict) -> None:
    created, scheduled = outcome["created"], outcome["scheduled"]
    text = f"{created} campaign{'s' if created != 1 else ''} imported"
    messages.success(request, f"{text}, {scheduled} of them scheduled." if scheduled else f"{text}, as drafts.")
    if request.workspace.require_approval:
        messages.info(
            request,
            "They publish once an owner or admin approves them: tick them in the list and choose “Ask for approval”.",
        )


@workspace_required
@require_GET
def campaign_list_csv(request: HttpRequest) -> HttpResponse:
    """The listed campaigns (the list's search, status and order) in the import's columns."""
    values = CampaignFilterForm(request.GET).values()
    filename = csv_filename(request.workspace.name, "campaigns", timezone.localdate().isoformat())
    rows = imports.campaign_export_rows(workspace=request.workspace, **values)
    return csv_response(filename=filename, header=list(imports.COLUMNS), rows=rows)


@workspace_required
@require_GET
def campaign_import_sample(request: HttpRequest) -> HttpResponse:
    """A file to start from: the columns, and two rows that import as they are in this workspace."""
    return csv_response(
        filename="campaigns-import-sample.csv",
        header=list(imports.COLUMNS),
        rows=imports.sample_rows(workspace=request.workspace),
    )


@workspace_required
def posting_schedule(request: HttpRequest) -> HttpResponse:
    """The workspace's posting times, or one destination's (``?queue=instagram:12``), which "Add to
    queue" fills in order, and what is planned next."""
    queues = {
        choice.key: choice.label
        for choices in destinations.target_choices(workspace=request.workspace).values()
        for choice in choices
    }
    queue = request.POST.get("queue", "") if request.method == "POST" else request.GET.get("queue", "")
    if queue and queue not in queues:
        raise Http404("No such destination.")
    form = PostingSlotForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            scheduling.posting_slot_add(
                workspace=request.workspace, weekdays=form.cleaned_data["weekdays"], at=form.cleaned_data["time"], queue=queue
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, f"Posting time {form.cleaned_data['time']:%H:%M} added.")
            return redirect(_posting_schedule_url(queue))
    slots = scheduling.posting_slots(workspace=request.workspace, queue=queue)
    context = {
        "form": form,
        "queue": queue,
        "queue_label": queues.get(queue, ""),
        "queues": queues,
        "queues_with_slots": scheduling.queues_with_slots(workspace=request.workspace),
        "days": scheduling.slots_by_day(slots),
        "has_slots": bool(slots),
        "next_free": scheduling.next_free_slot(workspace=request.workspace, queue=queue),
        "upcoming": selectors.upcoming_runs(workspace=request.workspace),
        "workspace_tz": request.workspace.timezone,
    }
    return render(request, "campaigns/posting_schedule.html", context)


def _posting_schedule_url(queue: str) -> str:
    url = reverse("posting_schedule")
    return f"{url}?{urlencode({'queue': queue})}" if queue else url


@workspace_required
@require_POST
def posting_slot_delete(request: HttpRequest, slot_id: int) -> HttpResponse:
    slot = get_for_workspace_or_404(PostingSlot, workspace=request.workspace, pk=slot_id)
    scheduling.posting_slot_delete(slot=slot)
    messages.success(request, f"Posting time {slot} removed. Campaigns already queued keep their time.")
    return redirect(_posting_schedule_url(slot.queue))


@workspace_required
@require_POST
def campaign_queue(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """Add to queue: scheduled once at the workspace's next free posting time."""
    campaign = _campaign(request, campaign_id)
    try:
        moment, report = scheduling.campaign_queue(campaign=campaign, by=request.user)
    except ValidationError as error:
        messages.error(request, error_text(error))
        if getattr(error, "code", "") == "no_slots":
            return redirect("posting_schedule")
        return redirect(campaign)
    for warning in report.warnings:
        messages.warning(request, warning)
    messages.success(request, f"Queued: it publishes {when(moment)}.")
    return redirect(campaign)


@workspace_required
def hashtag_groups(request: HttpRequest) -> HttpResponse:
    """The workspace's saved hashtag groups, with the form that adds one."""
    form = HashtagGroupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            group = services.hashtag_group_save(workspace=request.workspace, **form.cleaned_data)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, f"Hashtag group “{group.name}” saved: add it from a campaign's form.")
            return redirect("hashtag_groups")
    groups = selectors.hashtag_groups(workspace=request.workspace)
    return render(request, "campaigns/hashtag_groups.html", {"form": form, "groups": groups})


@workspace_required
def hashtag_group_edit(request: HttpRequest, group_id: int) -> HttpResponse:
    group = get_for_workspace_or_404(HashtagGroup, workspace=request.workspace, pk=group_id)
    form = HashtagGroupForm(request.POST or None, initial={"name": group.name, "hashtags": group.hashtags})
    if request.method == "POST" and form.is_valid():
        try:
            services.hashtag_group_save(workspace=request.workspace, group=group, **form.cleaned_data)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, f"Hashtag group “{group.name}” saved.")
            return redirect("hashtag_groups")
    return render(request, "campaigns/hashtag_group_edit.html", {"form": form, "group": group})


@workspace_required
@require_POST
def hashtag_group_delete(request: HttpRequest, group_id: int) -> HttpResponse:
    group = get_for_workspace_or_404(HashtagGroup, workspace=request.workspace, pk=group_id)
    services.hashtag_group_delete(group=group)
    messages.success(request, f"Hashtag group “{group.name}” deleted. Campaigns keep the hashtags they took from it.")
    return redirect("hashtag_groups")


@workspace_required
@require_POST
def campaign_generate_image(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = _campaign(request, campaign_id)
    try:
        generation = services.image_generation_request(campaign=campaign, by=request.user)
    except ValidationError as error:
        if request.htmx:
            return render(request, "campaigns/_generation.html", {"campaign": campaign, "error": error_text(error)})
        messages.error(request, error_text(error))
        return redirect(campaign)
    if request.htmx:
        generation.refresh_from_db()
        return render(request, "campaigns/_generation.html", {"campaign": campaign, "generation": generation})
    messages.info(request, "Generating an image. It appears here when ready.")
    return redirect(campaign)


@workspace_required
@require_GET
def generation_status(request: HttpRequest, campaign_id: int, generation_id: int) -> HttpResponse:
    campaign = _campaign(request, campaign_id)
    generation = _generation(campaign, generation_id)
    response = render(request, "campaigns/_generation.html", {"campaign": campaign, "generation": generation})
    if generation.is_done and generation.image_id:
        # Show the new image without a reload: the detail page refreshes its gallery on this event.
        response["HX-Trigger"] = "campaign-images-changed"
    return response


def _generation(campaign: Campaign, generation_id: int) -> ImageGeneration:
    generation = campaign.generations.filter(pk=generation_id).first()
    if generation is None:
        raise Http404("No such image generation.")
    return generation


@workspace_required
@require_GET
def campaign_gallery(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = _campaign(request, campaign_id)
    # The post preview shows the same images: it comes along, swapped out of band.
    return render(request, "campaigns/detail.html#gallery", {**_detail_context(request, campaign), "refresh_preview": True})


def _image(request: HttpRequest, campaign_id: int, image_id: int) -> CampaignImage:
    campaign = _campaign(request, campaign_id)
    image = campaign.images.filter(pk=image_id).first()
    if image is None:
        raise Http404("No such image.")
    return image


@workspace_required
@require_GET
def campaign_image(request: HttpRequest, campaign_id: int, image_id: int) -> FileResponse:
    image = _image(request, campaign_id, image_id)
    return _image_response(image.file)


@workspace_required
@require_GET
def campaign_image_thumbnail(request: HttpRequest, campaign_id: int, image_id: int) -> FileResponse:
    image = _image(request, campaign_id, image_id)
    try:
        image = services.campaign_image_thumbnail(image=image)
    except FileNotFoundError:
        _missing(image.file)
    return _image_response(image.thumbnail)


def _image_response(file) -> FileResponse:
    response = FileResponse(_opened(file), content_type="image/jpeg")
    # An image's files never change (a new image is a new row, at a new URL): the browser keeps
    # them instead of fetching every thumbnail again on each visit to the list. Private: signed in.
    response["Cache-Control"] = "private, max-age=31536000, immutable"
    return response


@workspace_required
@require_POST
def campaign_image_remove(request: HttpRequest, campaign_id: int, image_id: int) -> HttpResponse:
    image = _image(request, campaign_id, image_id)
    services.campaign_image_remove(image=image)
    messages.success(request, "Image removed.")
    return redirect("campaign_edit", campaign_id)


@workspace_required
@require_POST
def campaign_image_move(request: HttpRequest, campaign_id: int, image_id: int) -> HttpResponse:
    image = _image(request, campaign_id, image_id)
    services.campaign_image_move(image=image, offset=-1 if request.POST.get("direction") == "up" else 1)
    return redirect("campaign_edit", campaign_id)


@workspace_required
@require_GET
def execution_detail(request: HttpRequest, campaign_id: int, execution_id: int) -> HttpResponse:
    campaign = _campaign(request, campaign_id)
    execution = get_for_workspace_or_404(
        CampaignExecution.objects.filter(campaign=campaign)
        .select_related("requested_by")
        .prefetch_related("steps", "trigger_events__trigger"),
        workspace=request.workspace,
        pk=execution_id,
    )
    template = "campaigns/execution.html#execution" if request.htmx else "campaigns/execution.html"
    return render(request, template, {"campaign": campaign, "execution": execution})


@workspace_required
@require_POST
def execution_cancel(request: HttpRequest, campaign_id: int, execution_id: int) -> HttpResponse:
    campaign = _campaign(request, campaign_id)
    execution = get_for_workspace_or_404(CampaignExecution.objects.filter(campaign=campaign), workspace=request.workspace, pk=execution_id)
    try:
        executions.execution_cancel(execution=execution, by=request.user)
    except ValidationError as error:
        messages.error(request, error_text(error))
    else:
        messages.success(request, "Run cancelled.")
    return redirect(execution.get_absolute_url())


@login_not_required
@require_GET
@cache_control(public=True, max_age=86400)
def public_image(request: HttpRequest, token: str) -> FileResponse:
    """A campaign image for outside services (Instagram, n8n): the unguessable token is the key."""
    image = CampaignImage.objects.filter(token=token).only("file").first() if _is_hex_uuid(token) else None
    if image is None:
        raise Http404("No such image.")
    return FileResponse(_opened(image.file), content_type="image/jpeg")


def _opened(file) -> File:
    try:
        return file.open("rb")
    except FileNotFoundError:
        _missing(file)


def _missing(file) -> NoReturn:
    # No one can fix this from the page: the media storage lost a file the database names.
    logger.error("campaign image missing from the media storage", extra={"file": file.name})
    raise Http404("No such image.")


def _is_hex_uuid(value: str) -> bool:
    return len(value) == 32 and all(c in "0123456789abcdef" for c in value)


# Scheduling -------------------------------------------------------------------------------------


def _preview_context(request: HttpRequest, campaign: Campaign, form: ScheduleForm) -> dict:
    """The next five runs in the campaign's zone and the viewer's, and what the conflict rule says."""
    context: dict = {"campaign": campaign, "form": form, "viewer_tz": request.user.timezone}
    if not form.is_valid():
        # A time the form refused outright is named while the user types, not only on saving.
        context["range_errors"] = [
            (form.fields[name].label, message)
            for name in ("run_at", "starts_at", "ends_at")
            for message in form.errors.get(name, [])
            if message == recurrence.OUT_OF_RANGE
        ]
        return context
    plan = form.plan()
    try:
        scheduling.validate_plan(plan)
    except ValidationError as error:
        context["plan_error"] = error_text(error)
        return context
    now = timezone.now()
    runs = scheduling.planned_times(plan, after=now, until=now + timedelta(days=3650))[:5] if plan.kind == ScheduleKind.RECURRING else [plan.run_at]
    viewer = recurrence.zone(request.user.timezone)
    campaign_zone = recurrence.zone(plan.timezone)
    context["runs"] = [(run.astimezone(campaign_zone), run.astimezone(viewer)) for run in runs]
    context["report"] = scheduling.schedule_conflicts(campaign=campaign, plan=plan, now=now)
    context["plan_tz"] = plan.timezone
    context["schedule_words"] = selectors.schedule_words(plan)
    return context


@workspace_required
def campaign_schedule(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = _campaign(request, campaign_id)
    form = ScheduleForm.for_campaign(campaign, request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            report = scheduling.campaign_schedule(
                campaign=campaign,
                plan=form.plan(),
                by=request.user,
                accept_warnings=form.cleaned_data["accept_warnings"],
            )
        except ValidationError as error:
            if getattr(error, "code", None) == "conflict" or (
                hasattr(error, "error_list") and error.error_list and error.error_list[0].code == "conflict"
            ):
                form.show_accept = True
            add_service_errors(form, error)
        else:
            for warning in report.warnings:
                messages.warning(request, warning)
            messages.success(request, "Schedule saved.")
            return redirect(campaign)
    context = _preview_context(request, campaign, form)
    context["timing_hints"] = destinations.timing_hints(campaign=campaign)
    context["approval"] = approval.approval_state(campaign)
    return render(request, "campaigns/schedule.html", context)


@workspace_required
@require_POST
def campaign_schedule_preview(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = _campaign(request, campaign_id)
    form = ScheduleForm.for_campaign(campaign, request.POST)
    return render(request, "campaigns/schedule.html#preview", _preview_context(request, campaign, form))


@workspace_required
@require_POST
def campaign_schedule_action(request: HttpRequest, campaign_id: int, action: str) -> HttpResponse:
    campaign = _campaign(request, campaign_id)
    actions = {
        "pause": (scheduling.campaign_pause, "Paused: no planned run starts until you resume."),
        "resume": (scheduling.campaign_resume, "Resumed: the next planned run will start on time."),
        "remove": (scheduling.campaign_unschedule, "Schedule removed; the campaign is a draft again."),
    }
    if action not in actions:
        raise Http404("No such action.")
    service, success = actions[action]
    try:
        service(campaign=campaign, by=request.user)
    except ValidationError as error:
        messages.error(request, error_text(error))
    else:
        messages.success(request, success)
    return redirect(campaign)


@workspace_required
@require_GET
def calendar(request: HttpRequest) -> HttpResponse:
    view = "week" if request.GET.get("view") == "week" else "month"
    viewer = recurrence.zone(request.user.timezone)
    anchor, status, problem = timezone.now().astimezone(viewer).date(), 200, ""
    if request.GET.get("date"):
        try:
            asked = date.fromisoformat(request.GET["date"])
        except ValueError:
            status, problem = 400, "The date must read YYYY-MM-DD, like 2026-03-01."
        else:
            if recurrence.EARLIEST.year <= asked.year < recurrence.LATEST.year:
                anchor = asked
            else:
                status, problem = 400, recurrence.OUT_OF_RANGE
    return _calendar_response(request, view=view, anchor=anchor, status=status, date_error=problem)


def _calendar_response(request: HttpRequest, *, view: str, anchor: date, status: int = 200, **extra) -> HttpResponse:
    viewer = recurrence.zone(request.user.timezone)
    grid = selectors.calendar_grid(workspace=request.workspace, view=view, anchor=anchor, tz=viewer)
    template = "campaigns/calendar.html#calendar" if request.htmx else "campaigns/calendar.html"
    context = {"grid": grid, "view": view, "viewer_tz": request.user.timezone, **extra}
    return render(request, template, context, status=status)


@workspace_required
@require_POST
def campaign_reschedule(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """A post dragged to another calendar slot (or moved back by "Undo"): the same scheduling
    service as the schedule page, its warnings shown with a "move anyway"."""
    campaign = _campaign(request, campaign_id)
    slot = request.POST.get("at", "")
    planned = _slot_time(request, slot)
    view = "week" if request.POST.get("view", "week") == "week" else "month"
    notice: dict = {"campaign": campaign}
    if planned is None:
        notice["error"] = "That slot's time could not be read."
    else:
        try:
            _report, previous = scheduling.campaign_reschedule(
                campaign=campaign, run_at=planned, by=request.user, accept_warnings=bool(request.POST.get("accept_warnings"))
            )
        except ValidationError as error:
            if any(getattr(e, "code", None) == "conflict" for e in getattr(error, "error_list", [])):
                notice.update(warnings=error.messages, retry_at=slot)
            else:
                notice["error"] = error_text(error)
        else:
            viewer = recurrence.zone(request.user.timezone)
            notice.update(
                moved_to=when(planned),
                warnings=_report.warnings,
                undo_at=previous.astimezone(viewer).strftime("%Y-%m-%dT%H:%M") if previous > timezone.now() else "",
            )
    if not request.htmx:
        if "error" in notice:
            messages.error(request, notice["error"])
        elif "moved_to" in notice:
            messages.success(request, f"Moved “{campaign.name}” to {notice['moved_to']}.")
        else:
            messages.warning(request, " ".join(notice["warnings"]))
        return redirect(f"{reverse('calendar')}?view={view}&date={(planned or timezone.now()).date():%Y-%m-%d}")
    anchor = planned.astimezone(recurrence.zone(request.user.timezone)).date() if planned else timezone.now().date()
    return _calendar_response(request, view=view, anchor=anchor, notice=notice)


@workspace_required
@require_GET
def campaign_preview(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """The Instagram-like preview of a post, for the calendar's pop-over."""
    campaign = _campaign(request, campaign_id)
    return render(request, "campaigns/_post_preview.html", _preview_of(campaign))


def _preview_of(campaign: Campaign) -> dict:
    caption = render_caption(caption=campaign.caption, hashtags=campaign.hashtags)
    preview_images = list(campaign.images.all())
    publishable = selectors.images_read(campaign=campaign, images=preview_images, keep=False)
    # Instagram shows about the first 125 characters of a caption before "more".
    return {
        "campaign": campaign,
        "preview_images": preview_images,
        "publishable_preview": bool(publishable),
        # A story publishes its first publishable image; a placeholder shows while there is none.
        "story_image": (publishable or preview_images or [None])[0],
        "caption_head": caption[:125],
        "caption_rest": caption[125:],
    }
