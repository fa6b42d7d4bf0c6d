from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from marketing.selectors import get_for_workspace_or_404
from marketing.web import error_text, workspace_required

from . import selectors, services
from .forms import SourceForm, TestForm
from .models import ContentSource, SourceState

ITEMS_PAGE_SIZE = 25


def _source(request: HttpRequest, source_id: int) -> ContentSource:
    return get_for_workspace_or_404(
        selectors.source_for_detail(workspace=request.workspace), workspace=request.workspace, pk=source_id
    )


def _add_errors(form: SourceForm, error: ValidationError) -> None:
    if hasattr(error, "error_dict"):
        for field, errors in error.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error_text(error))


@workspace_required
@require_GET
def source_list(request: HttpRequest) -> HttpResponse:
    return render(request, "cms/list.html", {"sources": selectors.source_list(workspace=request.workspace)})


@workspace_required
def source_create(request: HttpRequest) -> HttpResponse:
    form = SourceForm(request.POST or None, workspace=request.workspace)
    if request.method == "POST" and form.is_valid():
        try:
            source = services.source_create(workspace=request.workspace, by=request.user, **form.cleaned_data)
        except ValidationError as error:
            _add_errors(form, error)
        else:
            messages.success(
                request,
                f"“{source.name}” connected. Its current posts are recorded as already there; new ones from now on "
                "become events or campaigns.",
            )
            return redirect(source)
    return render(request, "cms/form.html", {"form": form}, status=400 if form.errors else 200)


@workspace_required
def source_edit(request: HttpRequest, source_id: int) -> HttpResponse:
    source = _source(request, source_id)
    form = SourceForm(request.POST or None, workspace=request.workspace, source=source)
    if request.method == "POST" and form.is_valid():
        fields = {name: value for name, value in form.cleaned_data.items() if name != "kind"}
        try:
            services.source_update(source=source, by=request.user, **fields)
        except ValidationError as error:
            _add_errors(form, error)
        else:
            messages.success(request, "Source saved.")
            return redirect(source)
    return render(request, "cms/form.html", {"form": form, "source": source}, status=400 if form.errors else 200)


@workspace_required
@require_GET
def source_detail(request: HttpRequest, source_id: int) -> HttpResponse:
    source = _source(request, source_id)
    page = Paginator(selectors.item_list(source=source), ITEMS_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "cms/detail.html", {"source": source, "page": page})


@workspace_required
@require_POST
def source_poll(request: HttpRequest, source_id: int) -> HttpResponse:
    """Checks the source now, in this request, and says what happened."""
    source = _source(request, source_id)
    if source.state == SourceState.PAUSED:
        messages.error(request, "The source is paused. Resume it first.")
        return redirect(source)
    result = services.source_poll(source_id=source.pk)
    if result is None:
        messages.error(request, "The source is paused.")
    elif not result.ok:
        messages.error(request, f"The check failed: {result.message}")
    elif result.not_modified:
        messages.success(request, "Checked: nothing changed since the last check (the server answered 304).")
    else:
        messages.success(request, f"Checked: {result.new_items} new post{'s' if result.new_items != 1 else ''}.")
    return redirect(source)


@workspace_required
@require_POST
def source_pause(request: HttpRequest, source_id: int) -> HttpResponse:
    source = _source(request, source_id)
    paused = request.POST.get("paused") == "1"
    services.source_set_paused(source=source, paused=paused)
    messages.success(request, "Paused: it is not checked until resumed." if paused else "Resumed: it is checked now.")
    return redirect(source)


@workspace_required
@require_POST
def source_retry(request: HttpRequest, source_id: int) -> HttpResponse:
    count = services.items_retry(source=_source(request, source_id))
    messages.success(request, f"{count} failed post{'s' if count != 1 else ''} queued again.")
    return redirect("cms_source_detail", source_id)


@workspace_required
def source_delete(request: HttpRequest, source_id: int) -> HttpResponse:
    source = _source(request, source_id)
    if request.method == "POST":
        services.source_delete(source=source)
        messages.success(request, f"“{source.name}” deleted. Campaigns made from its posts are kept.")
        return redirect("cms_sources")
    return render(request, "cms/confirm_delete.html", {"source": source})


@workspace_required
@require_POST
def source_test(request: HttpRequest) -> HttpResponse:
    """The "Test" button: fetches what the form holds, unsaved, and shows the site's answer (a fragment)."""
    form = TestForm(request.POST)
    if not form.is_valid():
        check = services.Check(ok=False, message="Enter a valid address first.")
    else:
        data = form.cleaned_data
        password = data["wp_app_password"]
        source_id = request.POST.get("source", "")
        if not password and source_id.isdigit():
            # Editing: an empty password field keeps, and tests with, the stored one.
            password = _source(request, int(source_id)).wp_app_password
        check = services.source_test(
            kind=data["kind"], url=data["url"], wp_username=data["wp_username"], wp_app_password=password
        )
    return render(request, "cms/_check.html", {"check": check})
