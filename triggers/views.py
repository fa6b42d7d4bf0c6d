import logging

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import DatabaseError, IntegrityError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from campaigns.recurrence import DST_RULE_HELP, next_runs
from marketing import api
from marketing.logging import workspace_id_var
from marketing.webhooks import signature
from marketing.selectors import get_for_workspace_or_404
from marketing.web import error_text, workspace_required

from . import event_buffer, selectors, services
from .forms import GROUP_LETTERS, MATCH_CHOICES, OPERATOR_CHOICES, PayloadTestForm, TriggerForm
from .models import RejectionReason, Trigger, TriggerKind
from .services import Rejected


logger = logging.getLogger(__name__)

EVENTS_PAGE_SIZE = 20


def _trigger(request: HttpRequest, trigger_id: int) -> Trigger:
    return get_for_workspace_or_404(
        selectors.trigger_for_detail(workspace=request.workspace), workspace=request.workspace, pk=trigger_id
    )


# Pages -----------------------------------------------------------------------------------------


@workspace_required
@require_GET
def trigger_list(request: HttpRequest) -> HttpResponse:
    return render(request, "triggers/list.html", {"triggers": selectors.trigger_list(workspace=request.workspace)})


def _form_context(form: TriggerForm, trigger: Trigger | None = None) -> dict:
    return {
        "form": form,
        "trigger": trigger,
        "builder": form.rule_builder,
        "operator_choices": OPERATOR_CHOICES,
        "match_choices": MATCH_CHOICES,
        "group_letters": GROUP_LETTERS,
    }


def _rebuild_only(request: HttpRequest) -> bool:
    """True when the post only adds, removes or regroups rule rows; nothing is saved then."""
    return any(name in request.POST for name in ("add_rule", "remove_rule", "refresh_rules"))


def _form_response(request: HttpRequest, form: TriggerForm, trigger: Trigger | None) -> HttpResponse:
    if request.htmx and _rebuild_only(request):
        return render(request, "triggers/form.html#rule-builder", _form_context(form, trigger))
    return render(request, "triggers/form.html", _form_context(form, trigger))


@workspace_required
def trigger_create(request: HttpRequest) -> HttpResponse:
    data = request.POST if request.method == "POST" else None
    form = TriggerForm(data, workspace=request.workspace)
    if data is not None and not _rebuild_only(request) and form.is_valid():
        try:
            trigger = services.trigger_create(workspace=request.workspace, by=request.user, **form.service_fields)
        except ValidationError as error:
            form.add_service_error(error)
        else:
            messages.success(request, f"Trigger “{trigger.name}” created.")
            return redirect(trigger)
    return _form_response(request, form, None)


@workspace_required
def trigger_edit(request: HttpRequest, trigger_id: int) -> HttpResponse:
    trigger = _trigger(request, trigger_id)
    data = request.POST if request.method == "POST" else None
    form = TriggerForm(data, workspace=request.workspace, trigger=trigger)
    if data is not None and not _rebuild_only(request) and form.is_valid():
        try:
            services.trigger_update(trigger=trigger, by=request.user, **form.service_fields)
        except ValidationError as error:
            form.add_service_error(error)
        else:
            messages.success(request, "Trigger saved.")
            return redirect(trigger)
    return _form_response(request, form, trigger)


def _detail_context(request: HttpRequest, trigger: Trigger, **extra) -> dict:
    page = Paginator(selectors.trigger_events(trigger=trigger), EVENTS_PAGE_SIZE).get_page(request.GET.get("page"))
    page.object_list = selectors.events_explained(page.object_list)
    upcoming = []
    if trigger.kind == TriggerKind.TIME and trigger.enabled and trigger.cron:
        try:
            upcoming = next_runs(cron=trigger.cron, tz=trigger.effective_timezone, after=timezone.now(), count=5)
        except ValidationError:
            upcoming = []
    return {
        "trigger": trigger,
        "campaigns": list(trigger.campaigns.all()),
        "rejections": selectors.trigger_rejections(trigger=trigger),
        "page": page,
        "upcoming": upcoming,
        "dst_help": DST_RULE_HELP,
        "test_form": PayloadTestForm(),
        "rate_limit": services.event_rate(),
        "max_body_kb": services.MAX_BODY_BYTES // 1024,
        "events_buffered": event_buffer.enabled(),
        "signature_header": services.SIGNATURE_HEADER,
        "api_fire_url": settings.PUBLIC_BASE_URL + reverse("api_trigger_fire", args=[trigger.pk]),
        **extra,
    }


@workspace_required
@require_GET
def trigger_detail(request: HttpRequest, trigger_id: int) -> HttpResponse:
    trigger = _trigger(request, trigger_id)
    template = "triggers/detail.html#events" if request.htmx and not request.htmx.boosted else "triggers/detail.html"
    return render(request, template, _detail_context(request, trigger))


@workspace_required
def trigger_delete(request: HttpRequest, trigger_id: int) -> HttpResponse:
    trigger = _trigger(request, trigger_id)
    if request.method == "POST":
        services.trigger_delete(trigger=trigger, by=request.user)
        messages.success(request, f"Trigger “{trigger.name}” deleted.")
        return redirect("trigger_list")
    return render(request, "triggers/confirm_delete.html", {"trigger": trigger})


@workspace_required
@require_POST
def trigger_toggle(request: HttpRequest, trigger_id: int) -> HttpResponse:
    trigger = _trigger(request, trigger_id)
    enable = request.POST.get("enabled") == "1"
    try:
        services.trigger_set_enabled(trigger=trigger, enabled=enable, by=request.user)
    except ValidationError as error:
        messages.error(request, error_text(error))
    else:
        messages.success(request, "Trigger enabled." if enable else "Trigger disabled: it fires nothing until enabled.")
    return redirect(trigger)


@workspace_required
@require_POST
def trigger_fire(request: HttpRequest, trigger_id: int) -> HttpResponse:
    trigger = _trigger(request, trigger_id)
    try:
        event = services.trigger_fire_manual(trigger=trigger, by=request.user)
    except ValidationError as error:
        messages.error(request, error_text(error))
    else:
        if event.fired:
            count = event.executions.count()
            messages.success(request, f"Fired: {count} run{'s' if count != 1 else ''} queued.")
        else:
            messages.warning(request, f"Not fired: {event.get_skipped_reason_display().lower()}. {event.note}".strip())
    return redirect(trigger)


@workspace_required
@require_POST
def trigger_test(request: HttpRequest, trigger_id: int) -> HttpResponse:
    """Shows the decision for a pasted payload. Stores nothing, runs nothing."""
    trigger = _trigger(request, trigger_id)
    form = PayloadTestForm(request.POST)
    result: dict = {"test_form": form}
    if form.is_valid():
        try:
            body = form.cleaned_data["payload"].encode()
            services.check_size(len(body))
            payload = services.parse_payload(body)
        except Rejected as rejection:
            form.add_error("payload", rejection.message)
        else:
            result["decision"] = services.trigger_decide(trigger=trigger, payload=payload).as_dict()
    if request.htmx:
        return render(request, "triggers/detail.html#test-box", {"trigger": trigger, **result})
    return render(request, "triggers/detail.html", _detail_context(request, trigger, **result))


@workspace_required
@require_POST
def trigger_token_regenerate(request: HttpRequest, trigger_id: int) -> HttpResponse:
    trigger = _trigger(request, trigger_id)
    services.trigger_regenerate_token(trigger=trigger, by=request.user)
    messages.success(request, "New URL made. The old one answers 404 from now on: update the systems that post to it.")
    return redirect(trigger)


@workspace_required
@require_POST
def trigger_secret_generate(request: HttpRequest, trigger_id: int) -> HttpResponse:
    """Makes a signing secret and shows it on this response only; it is never shown again."""
    trigger = _trigger(request, trigger_id)
    secret = services.trigger_set_signing_secret(trigger=trigger, by=request.user)
    response = render(request, "triggers/detail.html", _detail_context(request, trigger, new_secret=secret))
    response["Cache-Control"] = "no-store"
    return response


@workspace_required
@require_POST
def trigger_secret_remove(request: HttpRequest, trigger_id: int) -> HttpResponse:
    trigger = _trigger(request, trigger_id)
    services.trigger_remove_signing_secret(trigger=trigger, by=request.user)
    messages.success(request, "Signing secret removed: events no longer need a signature.")
    return redirect(trigger)


# Inbound events --------------------------------------------------------------------------------


def _json_error(status: int, error: str, message: str, **headers) -> JsonResponse:
    # Problem details (RFC 9457) as the API answers; "error" and "message" stay for senders that read them.
    body = api.problem_body(status, message, code=error, error=error, message=message)
    response = JsonResponse(body, status=status, content_type=api.PROBLEM_CONTENT_TYPE)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


@login_not_required
@csrf_exempt
def trigger_hook(request: HttpRequest, token: str) -> JsonResponse:
    """Receives an outside system's event for the trigger whose secret URL this is.

    Every refusal is a 4xx with a JSON body and is counted on the trigger when it is known;
    refused bodies are never stored. When the database cannot be reached the answer is a 503
    that asks the sender to try again: nothing of the event was kept.
    """
    try:
        return _receive_event(request, token)
    except DatabaseError:
        logger.exception("trigger event not taken: the database is unavailable")
        return _json_error(
            503, "unavailable", "The event could not be taken just now; send it again shortly.", Retry_After="30"
        )


def _receive_event(request: HttpRequest, token: str) -> JsonResponse:
    if request.method != "POST":
        return _json_error(405, "method_not_allowed", "POST the event as JSON.", Allow="POST")
    trigger = selectors.trigger_by_token(token=token)
    try:
        if trigger is None:
            raise Rejected(404, "unknown_token", "No trigger has this URL. It may have been regenerated.")
        workspace_id_var.set(trigger.workspace_id)
        if not trigger.enabled:
            raise Rejected(409, RejectionReason.DISABLED, "This trigger is disabled.")
        services.check_content_type(request.META.get("CONTENT_TYPE", ""))
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        services.check_size(declared)
        body = request.body
        services.check_size(len(body))
        verified = services.check_signature(trigger=trigger, body=body, header=request.META.get(signature.META_KEY, ""))
        payload = services.parse_payload(body)
        # Counts the event under the URL's rate limit and refuses a replay as it goes (refusals
        # not counted there are counted below).
        event = services.trigger_event_receive(trigger=trigger, payload=payload, sender=token, signed=verified)
    except Rejected as rejection:
        if not rejection.counted:
            try:
                services.hook_rate_check(sender=token)
            except Rejected as limited:
                rejection = limited
        services.trigger_count_rejection(trigger_id=trigger.pk if trigger else None, reason=rejection.reason)
        headers = {"Retry_After": str(rejection.retry_after)} if rejection.retry_after else {}
        return _json_error(rejection.status, rejection.reason, rejection.message, **headers)
    except IntegrityError:
        # The trigger was deleted after its cached lookup: as good as an unknown token.
        selectors.trigger_token_forget(token)
        services.trigger_count_rejection(trigger_id=None, reason="unknown_token")
        return _json_error(404, "unknown_token", "No trigger has this URL. It may have been regenerated.")
    return JsonResponse(
        {
            "event": str(event.uuid),
            "matched": event.matched,
            "fired": event.fired,
            "skipped": event.skipped_reason or None,
            "executions": list(event.executions),
        },
        status=202,
    )
