from django.contrib.auth.decorators import login_not_required
from django.urls import path

from . import api, views

urlpatterns = [
    path("sources/", views.source_list, name="cms_sources"),
    path("sources/new/", views.source_create, name="cms_source_create"),
    path("sources/test/", views.source_test, name="cms_source_test"),
    path("sources/<int:source_id>/", views.source_detail, name="cms_source_detail"),
    path("sources/<int:source_id>/edit/", views.source_edit, name="cms_source_edit"),
    path("sources/<int:source_id>/check/", views.source_poll, name="cms_source_poll"),
    path("sources/<int:source_id>/pause/", views.source_pause, name="cms_source_pause"),
    path("sources/<int:source_id>/retry/", views.source_retry, name="cms_source_retry"),
    path("sources/<int:source_id>/delete/", views.source_delete, name="cms_source_delete"),
    # The API authenticates itself (token or session); the site-wide login redirect does not apply.
    path("api/v1/sources/", login_not_required(api.SourceListApi.as_view()), name="api_sources"),
    path("api/v1/sources/<int:pk>/", login_not_required(api.SourceDetailApi.as_view()), name="api_source"),
    path("api/v1/sources/<int:pk>/check/", login_not_required(api.SourcePollApi.as_view()), name="api_source_poll"),
    path("api/v1/sources/<int:pk>/items/", login_not_required(api.SourceItemsApi.as_view()), name="api_source_items"),
]
