from django.contrib.auth.decorators import login_not_required
from django.urls import path

from . import api

# The API authenticates itself (token or session); the site-wide login redirect does not apply.
urlpatterns = [
    path("campaigns/", login_not_required(api.CampaignListApi.as_view()), name="api_campaigns"),
    path("campaigns/import/", login_not_required(api.CampaignImportApi.as_view()), name="api_campaign_import"),
    path("campaigns/<int:pk>/", login_not_required(api.CampaignDetailApi.as_view()), name="api_campaign"),
    path("campaigns/<int:pk>/run/", login_not_required(api.CampaignRunApi.as_view()), name="api_campaign_run"),
    path("campaigns/<int:pk>/status/", login_not_required(api.CampaignStatusApi.as_view()), name="api_campaign_status"),
    path(
        "campaigns/<int:pk>/approve/", login_not_required(api.CampaignApproveApi.as_view()), name="api_campaign_approve"
    ),
    path(
        "campaigns/<int:pk>/request-changes/",
        login_not_required(api.CampaignChangesRequestApi.as_view()),
        name="api_campaign_request_changes",
    ),
    path(
        "campaigns/<int:pk>/approval-request/",
        login_not_required(api.CampaignApprovalRequestApi.as_view()),
        name="api_campaign_approval_request",
    ),
    path("campaigns/<int:pk>/queue/", login_not_required(api.CampaignQueueApi.as_view()), name="api_campaign_queue"),
    path(
        "campaigns/<int:pk>/schedule/", login_not_required(api.CampaignScheduleApi.as_view()), name="api_campaign_schedule"
    ),
    path(
        "campaigns/<int:pk>/executions/",
        login_not_required(api.CampaignExecutionsApi.as_view()),
        name="api_campaign_executions",
    ),
    path("executions/", login_not_required(api.ExecutionListApi.as_view()), name="api_executions"),
    path("executions/<uuid:uuid>/", login_not_required(api.ExecutionDetailApi.as_view()), name="api_execution"),
    path("destinations/", login_not_required(api.DestinationListApi.as_view()), name="api_destinations"),
]
