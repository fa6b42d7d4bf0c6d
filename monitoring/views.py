from __future__ import annotations

from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST
from prometheus_client import CONTENT_TYPE_LATEST

from . import alerts, health, prometheus, selectors, services
from marketing.models import Role
from marketing.web import workspace_required

from .models import Alert, AlertState, ErrorGroup, GroupStatus


@login_not_required
@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness for load balancers: 200 when every check passes, else 503; each check with its latency.

    ``?check=database,cache`` runs only those (a probe that must not depend on the workers).
    """
    names = [name for name in request.GET.get("check", "").split(",") if name]
    if settings.MONITORING_FALLBACK_EVALUATION:
        alerts.evaluate_if_stale()
    results = health.run_checks(names or None)
    ready = all(result.ok for result in results)
    body = {
        "status": "ok" if ready else "unavailable",
        "failing": [result.name for result in results if not result.ok],
        "checks": {
            result.name: {"status": "ok" if result.ok else "failing", "latency_ms": result.latency_ms, "error": result.error}
            for result in results
        },
    }
    return JsonResponse(body, status=200 if ready else 503)


@login_not_required
@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    refused = prometheus.refusal(request)
    if refused is not None:
        return refused
    return HttpResponse(prometheus.exposition(), content_type=CONTENT_TYPE_LATEST)


@staff_member_required
@require_GET
def status(request: HttpRequest) -> HttpResponse:
    """The checks now and their last 24 hours."""
    context = {"results": health.run_checks(), "history": selectors.health_history()}
    return render(request, "monitoring/status.html", context)


@staff_member_required
@require_GET
def error_list(request: HttpRequest) -> HttpResponse:
    status_filter = request.GET.get("status", GroupStatus.OPEN)
    category = request.GET.get("category", "")
    context = {
        "groups": selectors.error_group_list(status=status_filter, category=category)[:200],
        "status": status_filter,
        "category": category,
        "statuses": GroupStatus.choices,
        "categories": selectors.error_categories(),
    }
    return render(request, "monitoring/errors.html", context)


@staff_member_required
@require_GET
def error_group(request: HttpRequest, group_id: int) -> HttpResponse:
    group = get_object_or_404(ErrorGroup, pk=group_id)
    context = {
        "group": group,
        "occurrences": group.occurrences.select_related("workspace")[:20],
        "workspaces": group.workspaces.all()[:50],
        "chart": selectors.error_group_chart(group=group),
        "statuses": GroupStatus.choices,
    }
    return render(request, "monitoring/error_group.html", context)


@staff_member_required
@require_POST
def error_group_status(request: HttpRequest, group_id: int) -> HttpResponse:
    group = get_object_or_404(ErrorGroup, pk=group_id)
    status_value = request.POST.get("status", "")
    if status_value in GroupStatus.values:
        services.error_group_set_status(group=group, status=status_value)
    return redirect(group)


@staff_member_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    """Charts for the last hour, day or week; HTMX swaps in fresh charts every 30 s while open."""
    context = selectors.staff_dashboard(range_name=request.GET.get("range", "hour"))
    template = "monitoring/_dashboard_body.html" if request.htmx else "monitoring/dashboard.html"
    return render(request, template, context)


@workspace_required
@require_GET
def workspace_dashboard(request: HttpRequest) -> HttpResponse:
    """A workspace owner's smaller dashboard: their runs, trigger events and errors."""
    if request.membership.role != Role.OWNER:
        raise PermissionDenied("Only the workspace's owners see its monitoring.")
    context = selectors.workspace_dashboard(workspace=request.workspace, range_name=request.GET.get("range", "day"))
    template = "monitoring/_workspace_body.html" if request.htmx else "monitoring/workspace.html"
    return render(request, template, context)


@staff_member_required
@require_GET
def alert_list(request: HttpRequest) -> HttpResponse:
    context = {
        "firing": Alert.objects.filter(state=AlertState.FIRING).select_related("rule"),
        "history": Alert.objects.select_related("rule").prefetch_related("notifications")[:200],
    }
    return render(request, "monitoring/alerts.html", context)
