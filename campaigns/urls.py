from django.urls import path

from . import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("campaigns/", views.campaign_list, name="campaign_list"),
    path("campaigns/new/", views.campaign_create, name="campaign_create"),
    path("campaigns/bulk/", views.campaign_bulk, name="campaign_bulk"),
    path("campaigns/import/", views.campaign_import, name="campaign_import"),
    path("campaigns/export.csv", views.campaign_list_csv, name="campaign_list_csv"),
    path("campaigns/import/sample.csv", views.campaign_import_sample, name="campaign_import_sample"),
    path("campaigns/caption-count/", views.caption_count, name="caption_count"),
    path("campaigns/hashtags/", views.hashtag_groups, name="hashtag_groups"),
    path("campaigns/queue/", views.posting_schedule, name="posting_schedule"),
    path("campaigns/queue/<int:slot_id>/delete/", views.posting_slot_delete, name="posting_slot_delete"),
    path("campaigns/hashtags/<int:group_id>/", views.hashtag_group_edit, name="hashtag_group_edit"),
    path("campaigns/hashtags/<int:group_id>/delete/", views.hashtag_group_delete, name="hashtag_group_delete"),
    path("campaigns/<int:campaign_id>/", views.campaign_detail, name="campaign_detail"),
    path("campaigns/<int:campaign_id>/edit/", views.campaign_edit, name="campaign_edit"),
    path("campaigns/<int:campaign_id>/delete/", views.campaign_delete, name="campaign_delete"),
    path("campaigns/<int:campaign_id>/run/", views.campaign_run, name="campaign_run"),
    path("campaigns/<int:campaign_id>/queue/", views.campaign_queue, name="campaign_queue"),
    path("campaigns/<int:campaign_id>/duplicate/", views.campaign_duplicate, name="campaign_duplicate"),
    path("campaigns/<int:campaign_id>/approve/", views.campaign_approve, name="campaign_approve"),
    path("campaigns/<int:campaign_id>/comments/", views.campaign_comment_add, name="campaign_comment_add"),
    path(
        "campaigns/<int:campaign_id>/comments/<int:comment_id>/delete/",
        views.campaign_comment_delete,
        name="campaign_comment_delete",
    ),
    path(
        "campaigns/<int:campaign_id>/request-changes/", views.campaign_changes_request, name="campaign_changes_request"
    ),
    path(
        "campaigns/<int:campaign_id>/approval-request/",
        views.campaign_approval_request,
        name="campaign_approval_request",
    ),
    path("campaigns/<int:campaign_id>/status/", views.campaign_status, name="campaign_status"),
    path("campaigns/<int:campaign_id>/executions/", views.campaign_executions, name="campaign_executions"),
    path("campaigns/<int:campaign_id>/gallery/", views.campaign_gallery, name="campaign_gallery"),
    path("campaigns/<int:campaign_id>/generate/", views.campaign_generate_image, name="campaign_generate_image"),
    path(
        "campaigns/<int:campaign_id>/generations/<int:generation_id>/",
        views.generation_status,
        name="generation_status",
    ),
    path("campaigns/<int:campaign_id>/images/<int:image_id>/", views.campaign_image, name="campaign_image"),
    path(
        "campaigns/<int:campaign_id>/images/<int:image_id>/thumbnail/",
        views.campaign_image_thumbnail,
        name="campaign_image_thumbnail",
    ),
    path(
        "campaigns/<int:campaign_id>/images/<int:image_id>/remove/",
        views.campaign_image_remove,
        name="campaign_image_remove",
    ),
    path("campaigns/<int:campaign_id>/images/<int:image_id>/move/", views.campaign_image_move, name="campaign_image_move"),
    path("campaigns/<int:campaign_id>/runs/<int:execution_id>/", views.execution_detail, name="execution_detail"),
    path(
        "campaigns/<int:campaign_id>/runs/<int:execution_id>/cancel/",
        views.execution_cancel,
        name="execution_cancel",
    ),
    path("campaigns/<int:campaign_id>/schedule/", views.campaign_schedule, name="campaign_schedule"),
    path(
        "campaigns/<int:campaign_id>/schedule/preview/",
        views.campaign_schedule_preview,
        name="campaign_schedule_preview",
    ),
    path(
        "campaigns/<int:campaign_id>/schedule/<str:action>/",
        views.campaign_schedule_action,
        name="campaign_schedule_action",
    ),
    path("calendar/", views.calendar, name="calendar"),
    path("runs/", views.run_list, name="run_list"),
    path("runs/export.csv", views.run_list_csv, name="run_list_csv"),
    path("campaigns/<int:campaign_id>/reschedule/", views.campaign_reschedule, name="campaign_reschedule"),
    path("campaigns/<int:campaign_id>/preview/", views.campaign_preview, name="campaign_preview"),
    path("media/p/<str:token>.jpg", views.public_image, name="public_image"),
]
