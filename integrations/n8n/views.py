from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from marketing.selectors import get_for_workspace_or_404
from marketing.web import add_service_errors, error_text, workspace_required
from marketing.webhooks import signature

from . import runs, selectors, services
from .client import N8nError
from .forms import ConnectionForm, TemplateParamsForm
from .models import N8nWorkflow
from .templates import template_get, template_list as all_templates


def _require_manager(request: HttpRequest) -> None:
    if not request.membership.can_manage_members:
        raise PermissionDenied("Only owners and admins can change the n8n connection and workflows.")


def _endpoint(request: HttpRequest) -> services.Endpoint:
    return services.endpoint_for(selectors.connection_for(workspace=request.workspace))


# Connection ------------------------------------------------------------------------------------


@workspace_required
def connection(request: HttpRequest) -> HttpResponse:
    current = services.connection_ensure(workspace=request.workspace)
    form = ConnectionForm(request.POST or None, connection=current)
    if request.method == "POST":
        _require_manager(request)
        if form.is_valid():
            try:
                services.connection_update(connection=current, **form.cleaned_data)
            except ValidationError as error:
                form.add_error(None, error_text(error))
            else:
                messages.success(request, "n8n connection saved. Test it to check the URL and the key.")
                return redirect("n8n_connection")
    context = {
        "form": form,
        "connection": current,
        "endpoint": services.endpoint_for(current),
        "can_manage": request.membership.can_manage_members,
        "signature_header": signature.HEADER,
        "trigger_header": services.TRIGGER_HEADER,
        "callback_example": runs.callback_url_example(),
    }
    return render(request, "n8n/connection.html", context, status=400 if form.errors else 200)


@workspace_required
@require_POST
def connection_test(request: HttpRequest) -> HttpResponse:
    _require_manager(request)
    check = services.connection_test(connection=services.connection_ensure(workspace=request.workspace))
    (messages.success if check.ok else messages.error)(request, check.message)
    return redirect("n8n_connection")


@workspace_required
@require_POST
def secret_rotate(request: HttpRequest) -> HttpResponse:
    _require_manager(request)
    try:
        services.secrets_rotate(connection=services.connection_ensure(workspace=request.workspace))
    except N8nError as error:
        messages.error(request, f"The secrets could not all be replaced: {error.message}")
    else:
        messages.success(request, "New run token and callback secret set, here and in n8n's credentials.")
    return redirect("n8n_connection")


# Templates -------------------------------------------------------------------------------------


def _templates_response(
    request: HttpRequest, bound: dict[str, TemplateParamsForm] | None = None, status: int = 200
) -> HttpResponse:
    installed = {workflow.template_key: workflow for workflow in selectors.workflow_list(workspace=request.workspace)}
    cards = []
    for template in all_templates():
        workflow = installed.get(template.key)
        form = (bound or {}).get(template.key) or TemplateParamsForm(
            template=template, installed_params=workflow.params if workflow else None
        )
        cards.append({"template": template, "workflow": workflow, "form": form})
    context = {
        "cards": cards,
        "endpoint": _endpoint(request),
        "can_manage": request.membership.can_manage_members,
    }
    return render(request, "n8n/templates.html", context, status=status)


@workspace_required
@require_GET
def template_list(request: HttpRequest) -> HttpResponse:
    return _templates_response(request)


def _install(request: HttpRequest, template_key: str, workflow: N8nWorkflow | None) -> HttpResponse:
    _require_manager(request)
    template = template_get(template_key)
    if template is None:
        raise Http404("No such template.")
    form = TemplateParamsForm(request.POST, template=template, installed_params=workflow.params if workflow else None)
    if not form.is_valid():
        return _templates_response(request, bound={template.key: form}, status=400)
    verb = "Reinstalled" if workflow else "Installed"
    try:
        installed = services.workflow_install(
            workspace=request.workspace, template_key=template.key, params=form.cleaned_data
        )
    except ValidationError as error:
        if hasattr(error, "error_dict"):
            add_service_errors(form, error)
            return _templates_response(request, bound={template.key: form}, status=400)
        messages.error(request, error_text(error))
    except N8nError as error:
        messages.error(request, f"“{template.name}” could not be installed: {error.message}")
    else:
        messages.success(request, f"{verb} “{template.name}” in n8n (workflow {installed.n8n_id}, active).")
    return redirect("n8n_templates")


@workspace_required
@require_POST
def template_install(request: HttpRequest, template_key: str) -> HttpResponse:
    existing = selectors.workflow_list(workspace=request.workspace).filter(template_key=template_key).first()
    return _install(request, template_key, existing)


@workspace_required
@require_POST
def workflow_reinstall(request: HttpRequest, workflow_id: int) -> HttpResponse:
    workflow = get_for_workspace_or_404(N8nWorkflow, workspace=request.workspace, pk=workflow_id)
    return _install(request, workflow.template_key, workflow)


@workspace_required
@require_POST
def workflow_uninstall(request: HttpRequest, workflow_id: int) -> HttpResponse:
    workflow = get_for_workspace_or_404(N8nWorkflow, workspace=request.workspace, pk=workflow_id)
    _require_manager(request)
    name = workflow.name
    warning = services.workflow_uninstall(workflow=workflow)
    if warning:
        messages.warning(request, warning)
    else:
        messages.success(request, f"Removed “{name}” from n8n and from this workspace.")
    return redirect("n8n_templates")


# Monitoring ------------------------------------------------------------------------------------


@workspace_required
@require_GET
def execution_list(request: HttpRequest) -> HttpResponse:
    endpoint = _endpoint(request)
    rows, errors = selectors.recent_executions(workspace=request.workspace) if endpoint.configured else ([], [])
    context = {
        "rows": rows,
        "errors": errors,
        "endpoint": endpoint,
        "has_workflows": selectors.workflow_list(workspace=request.workspace).exists(),
    }
    return render(request, "n8n/executions.html", context)


# Callbacks from n8n ----------------------------------------------------------------------------


@csrf_exempt
@login_not_required
def callback(request: HttpRequest, execution_uuid: UUID) -> JsonResponse:
    """n8n's signed report on a run: JSON in, JSON out, whatever happens."""
    if request.method != "POST":
        return JsonResponse({"error": "Use POST."}, status=405, headers={"Allow": "POST"})
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return JsonResponse({"error": "Bad Content-Length."}, status=400)
    if length > runs.MAX_CALLBACK_BYTES:
        return JsonResponse({"error": f"The body is larger than {runs.MAX_CALLBACK_BYTES // 1024} KB."}, status=400)
    # Read at most one byte past the limit, never more, whatever the headers claimed.
    body = request.read(runs.MAX_CALLBACK_BYTES + 1)
    result = runs.callback_receive(
        execution_uuid=execution_uuid, body=body, signature_header=request.META.get(signature.META_KEY)
    )
    return JsonResponse(result.body, status=result.status)


@csrf_exempt
@login_not_required
def callback_unknown(request: HttpRequest, token: str) -> JsonResponse:
    """A callback URL whose id is not even a UUID: the same JSON 404 as an unknown run."""
    return JsonResponse({"error": "No run of an n8n campaign has this id."}, status=404)
