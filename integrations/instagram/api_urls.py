from django.contrib.auth.decorators import login_not_required
from django.urls import path

from . import api

# The API authenticates itself (token or session); the site-wide login redirect does not apply.
urlpatterns = [
    path(
        "instagram-accounts/<int:pk>/best-times/",
        login_not_required(api.AccountBestTimesApi.as_view()),
        name="api_instagram_best_times",
    ),
]
