from __future__ import annotations

import logging
from uuid import UUID

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from djstripe.models import WebhookEndpoint

from marketing.models import Role
from marketing.views import error_text, workspace_required

from . import selectors, services, stripe_api, webhooks
from .plans import EXTRA_AI_IMAGE_CENTS, INTERVALS, PAID_PLANS, Limit, feature_rows

logger = logging.getLogger(__name__)


def _is_owner(request: HttpRequest) -> bool:
    membership = getattr(request, "membership", None)
    return membership is not None and membership.role == Role.OWNER


@login_not_required
def pricing(request: HttpRequest) -> HttpResponse:
    """The public pricing page, read from the catalogue in code whether or not billing is on."""
    interval = request.GET.get("interval", "month")
    if interval not in INTERVALS:
        interval = "month"
    current = None
    if request.user.is_authenticated and getattr(request, "workspace", None) is not None:
        allowance = selectors.workspace_allowance(workspace=request.workspace)
        current = allowance.plan.key if allowance.enabled else None
    context = {
        "plans": [(plan, plan.price_cents(interval)) for plan in PAID_PLANS],
        "interval": interval,
        "rows": feature_rows(),
        "current": current,
        "is_owner": _is_owner(request),
        "billing_enabled": stripe_api.enabled(),
        "trial_days": settings.BILLING_TRIAL_DAYS,
        "extra_image_cents": EXTRA_AI_IMAGE_CENTS,
    }
    return render(request, "billing/pricing.html", context)


@workspace_required
def billing(request: HttpRequest) -> HttpResponse:
    """The plan, the usage against each limit and, for owners, the buttons that change it."""
    allowance, lines = selectors.workspace_billing_overview(workspace=request.workspace)
    extra = next(line for line in lines if line.name == Limit.AI_IMAGES_PER_MONTH)
    extra_images = max(0, extra.used - extra.allowed) if allowance.is_metered(Limit.AI_IMAGES_PER_MONTH) else 0
    context = {
        "allowance": allowance,
        "lines": lines,
        "is_owner": _is_owner(request),
        "extra_images": extra_images,
        "extra_cost_cents": extra_images * EXTRA_AI_IMAGE_CENTS,
    }
    return render(request, "billing/billing.html", context)


@workspace_required
@require_POST
def checkout(request: HttpRequest) -> HttpResponse:
    try:
        url = services.checkout_start(
            workspace=request.workspace,
            membership=request.membership,
            plan_key=request.POST.get("plan", ""),
            interval=request.POST.get("interval", "month"),
        )
    except (ValidationError, PermissionDenied) as error:
        messages.error(request, error_text(error) if isinstance(error, ValidationError) else str(error))
        return redirect("billing_pricing")
    return redirect(url)


@workspace_required
@require_POST
def portal(request: HttpRequest) -> HttpResponse:
    try:
        url = services.portal_start(workspace=request.workspace, membership=request.membership)
    except (ValidationError, PermissionDenied) as error:
        messages.error(request, error_text(error) if isinstance(error, ValidationError) else str(error))
        return redirect("billing")
    return redirect(url)


@workspace_required
def success(request: HttpRequest) -> HttpResponse:
    """After Checkout: says "activating" until the webhook has landed, polling with HTMX."""
    allowance = selectors.workspace_allowance(workspace=request.workspace)
    template = "billing/success.html#status" if request.htmx else "billing/success.html"
    return render(request, template, {"allowance": allowance, "active": allowance.has_subscription and not allowance.plan.is_free})


@workspace_required
def cancel(request: HttpRequest) -> HttpResponse:
    return render(request, "billing/cancel.html")


@workspace_required
def invoices(request: HttpRequest) -> HttpResponse:
    """The workspace's invoices from dj-stripe's tables, and a preview of the next one."""
    preview, preview_error = None, ""
    allowance = selectors.workspace_allowance(workspace=request.workspace)
    if allowance.enabled and allowance.has_subscription:
        try:
            preview = services.invoice_preview(workspace=request.workspace)
        except services.ProviderError as error:
            preview_error = "Stripe could not be reached for the next invoice; try again in a minute."
            logger.warning("invoice preview failed", extra={"error": error.message})
    context = {
        "allowance": allowance,
        "invoices": selectors.invoice_list(workspace=request.workspace)[:100],
        "preview": preview,
        "preview_error": preview_error,
    }
    return render(request, "billing/invoices.html", context)


@login_not_required
@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest, uuid: UUID) -> HttpResponse:
    """Stripe's webhook URL: verifies the signature, stores the event once and answers at once.

    The processing (dj-stripe's sync, the plan) runs in a task (billing/webhooks.py). A forged or
    garbled delivery is refused before anything is written.
    """
    try:
        webhooks.event_accept(endpoint_uuid=uuid, body=request.body, signature=request.headers.get("stripe-signature", ""))
    except WebhookEndpoint.DoesNotExist:
        raise Http404 from None
    except webhooks.Refused as refusal:
        logger.warning("stripe webhook refused", extra={"endpoint": str(uuid), "reason": str(refusal)})
        return HttpResponseBadRequest("Bad or missing Stripe-Signature.")
    return HttpResponse("ok")
