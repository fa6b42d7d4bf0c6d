from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from marketing.csv_export import csv_filename, csv_response
from marketing.selectors import get_for_workspace_or_404
from marketing.web import workspace_required

from . import client, insights, oauth, selectors, services
from .forms import PickAccountsForm
from .models import AccountStatus, InstagramAccount


def _account(request: HttpRequest, account_id: int) -> InstagramAccount:
    return get_for_workspace_or_404(InstagramAccount, workspace=request.workspace, pk=account_id)


def _can_manage(request: HttpRequest) -> bool:
    return request.membership is not None and request.membership.can_manage_members


@workspace_required
@require_GET
def account_list(request: HttpRequest) -> HttpResponse:
    context = {
        "accounts": selectors.account_list(workspace=request.workspace),
        "configured": client.is_configured(),
        "app_id_set": bool(settings.META_APP_ID),
        "redirect_uri": oauth.redirect_uri(),
        "can_manage": _can_manage(request),
    }
    return render(request, "instagram/accounts.html", context)


def _start_oauth(request: HttpRequest) -> HttpResponse:
    services.require_manager(request.membership)
    if not client.is_configured():
        messages.error(request, "Instagram is not configured on this server yet: see below what to set.")
        return redirect("instagram_accounts")
    return redirect(oauth.oauth_start(session=request.session, membership=request.membership))


@workspace_required
def connect(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        # A bookmarked or typed link: connecting starts from the button, which carries the CSRF token.
        messages.info(request, "Connect an account with the “Connect Instagram” button below.")
        return redirect("instagram_accounts")
    return _start_oauth(request)


@workspace_required
@require_POST
def reconnect(request: HttpRequest, account_id: int) -> HttpResponse:
    _account(request, account_id)  # 404 for another workspace's account
    return _start_oauth(request)


@workspace_required
@require_GET
@never_cache
def callback(request: HttpRequest) -> HttpResponse:
    """Facebook sends the browser back here with ?code=…&state=… (or ?error=… when the user cancelled)."""
    try:
        oauth.oauth_check_state(session=request.session, state=request.GET.get("state", ""), workspace=request.workspace)
        services.require_manager(request.membership)
        if request.GET.get("error"):
            raise oauth.OAuthError("The Instagram connection was cancelled on Facebook; nothing was changed.")
        oauth.oauth_complete(session=request.session, code=request.GET.get("code", ""), workspace=request.workspace)
    except oauth.OAuthError as error:
        messages.error(request, error.message)
        return redirect("instagram_accounts")
    return redirect("instagram_pick")


@workspace_required
@never_cache
def pick(request: HttpRequest) -> HttpResponse:
    services.require_manager(request.membership)
    candidates = oauth.oauth_candidates(session=request.session, workspace=request.workspace)
    if not candidates:
        messages.error(request, "The connection expired or was already used. Please connect again.")
        return redirect("instagram_accounts")
    existing = {
        account.ig_user_id: account
        for account in selectors.account_list(workspace=request.workspace).filter(
            ig_user_id__in=[c.ig_user_id for c in candidates]
        )
    }
    preselected = [c.ig_user_id for c in candidates if len(candidates) == 1 or c.ig_user_id in existing]
    data = request.POST if request.method == "POST" else None
    form = PickAccountsForm(data, candidates=candidates, initial={"accounts": preselected})
    if request.method == "POST" and form.is_valid():
        try:
            accounts = oauth.accounts_connect(
                session=request.session, membership=request.membership, ig_user_ids=form.cleaned_data["accounts"]
            )
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
            return redirect("instagram_accounts")
        names = ", ".join(f"@{account.username}" for account in accounts)
        messages.success(request, f"Connected {names}.")
        return redirect("instagram_accounts")
    rows = [(candidate, existing.get(candidate.ig_user_id)) for candidate in candidates]
    return render(request, "instagram/pick.html", {"form": form, "rows": rows})


@workspace_required
@require_POST
def disconnect(request: HttpRequest, account_id: int) -> HttpResponse:
    account = _account(request, account_id)
    if account.status == AccountStatus.DISCONNECTED:
        messages.info(request, f"@{account.username} is already disconnected.")
        return redirect("instagram_accounts")
    services.account_disconnect(account=account, membership=request.membership)
    messages.success(request, f"@{account.username} is disconnected; its campaigns cannot publish until it is reconnected.")
    return redirect("instagram_accounts")


@workspace_required
@require_GET
def analytics(request: HttpRequest, account_id: int) -> HttpResponse:
    account = _account(request, account_id)
    context = {
        "account": account,
        "attempts": selectors.recent_attempts(account=account),
        "best_times": selectors.best_times(account=account),
        "can_manage": _can_manage(request),
        **selectors.account_analytics(account=account, days=selectors.analytics_period(request.GET.get("days"))),
    }
    return render(request, "instagram/analytics.html", context)


CSV_REPORTS = {"daily": selectors.account_daily_rows, "posts": selectors.account_post_rows}


@workspace_required
@require_GET
def analytics_csv(request: HttpRequest, account_id: int, report: str) -> HttpResponse:
    account = _account(request, account_id)
    if report not in CSV_REPORTS:
        raise Http404("No such download.")
    days = selectors.analytics_period(request.GET.get("days"))
    header, rows = CSV_REPORTS[report](account=account, days=days)
    return csv_response(filename=csv_filename(account.username, report, f"{days}-days"), header=header, rows=rows)


@workspace_required
@require_POST
def insights_refresh(request: HttpRequest, account_id: int) -> HttpResponse:
    account = _account(request, account_id)
    try:
        insights.insights_refresh_request(account=account, membership=request.membership)
    except insights.RefreshRefused as refused:
        messages.warning(request, refused.message)
    else:
        messages.success(request, f"Pulling the insights of @{account.username} now; reload in a minute to see them.")
    return redirect("instagram_analytics", account.pk)
