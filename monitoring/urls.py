from django.urls import path

from . import views

app_name = "monitoring"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("workspace/", views.workspace_dashboard, name="workspace_dashboard"),
    path("alerts/", views.alert_list, name="alert_list"),
    path("status/", views.status, name="status"),
    path("errors/", views.error_list, name="error_list"),
    path("errors/<int:group_id>/", views.error_group, name="error_group"),
    path("errors/<int:group_id>/status/", views.error_group_status, name="error_group_status"),
]
