from django.contrib.auth.decorators import login_not_required
from django.urls import path

from . import api, views

urlpatterns = [
    path("triggers/", views.trigger_list, name="trigger_list"),
    path("triggers/new/", views.trigger_create, name="trigger_create"),
    path("triggers/<int:trigger_id>/", views.trigger_detail, name="trigger_detail"),
    path("triggers/<int:trigger_id>/edit/", views.trigger_edit, name="trigger_edit"),
    path("triggers/<int:trigger_id>/delete/", views.trigger_delete, name="trigger_delete"),
    path("triggers/<int:trigger_id>/toggle/", views.trigger_toggle, name="trigger_toggle"),
    path("triggers/<int:trigger_id>/fire/", views.trigger_fire, name="trigger_fire"),
    path("triggers/<int:trigger_id>/test/", views.trigger_test, name="trigger_test"),
    path("triggers/<int:trigger_id>/token/", views.trigger_token_regenerate, name="trigger_token_regenerate"),
    path("triggers/<int:trigger_id>/secret/", views.trigger_secret_generate, name="trigger_secret_generate"),
    path("triggers/<int:trigger_id>/secret/remove/", views.trigger_secret_remove, name="trigger_secret_remove"),
    # The API authenticates itself (token or session); the site-wide login redirect does not apply.
    path("api/v1/triggers/<int:pk>/fire/", login_not_required(api.TriggerFireApi.as_view()), name="api_trigger_fire"),
]

# First in the project's URLconf, at its top level: senders post here at volume, and each
# include() on the way costs a resolve a few microseconds (bench/README.md, ingest).
hook_urlpatterns = [
    path("hooks/triggers/<str:token>/", views.trigger_hook, name="trigger_hook"),
    # Without the trailing slash too: a POST redirected to add it would lose its body.
    path("hooks/triggers/<str:token>", views.trigger_hook),
]
