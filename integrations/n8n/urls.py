from django.urls import path

from . import views

urlpatterns = [
    path("n8n/", views.connection, name="n8n_connection"),
    path("n8n/test/", views.connection_test, name="n8n_connection_test"),
    path("n8n/secret/rotate/", views.secret_rotate, name="n8n_secret_rotate"),
    path("n8n/templates/", views.template_list, name="n8n_templates"),
    path("n8n/templates/<slug:template_key>/install/", views.template_install, name="n8n_template_install"),
    path("n8n/workflows/<int:workflow_id>/reinstall/", views.workflow_reinstall, name="n8n_workflow_reinstall"),
    path("n8n/workflows/<int:workflow_id>/uninstall/", views.workflow_uninstall, name="n8n_workflow_uninstall"),
    path("n8n/executions/", views.execution_list, name="n8n_executions"),
]

# At the top of the project's URLconf, after the trigger hooks.
hook_urlpatterns = [
    path("hooks/n8n/<uuid:execution_uuid>/", views.callback, name="n8n_callback"),
    path("hooks/n8n/<str:token>/", views.callback_unknown, name="n8n_callback_unknown"),
]
