from django.urls import path

from . import views

urlpatterns = [
    path("instagram/", views.account_list, name="instagram_accounts"),
    path("instagram/connect/", views.connect, name="instagram_connect"),
    path("instagram/callback/", views.callback, name="instagram_callback"),
    path("instagram/connect/pick/", views.pick, name="instagram_pick"),
    path("instagram/<int:account_id>/", views.analytics, name="instagram_analytics"),
    path("instagram/<int:account_id>/<slug:report>.csv", views.analytics_csv, name="instagram_analytics_csv"),
    path("instagram/<int:account_id>/insights/refresh/", views.insights_refresh, name="instagram_insights_refresh"),
    path("instagram/<int:account_id>/reconnect/", views.reconnect, name="instagram_reconnect"),
    path("instagram/<int:account_id>/disconnect/", views.disconnect, name="instagram_disconnect"),
]
