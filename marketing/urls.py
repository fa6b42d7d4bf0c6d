from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from billing.urls import webhook_urlpatterns as stripe_webhooks
from integrations.n8n.urls import hook_urlpatterns as n8n_hooks
from monitoring import views as monitoring_views
from triggers.urls import hook_urlpatterns as trigger_hooks

from . import api, views

# The admin signs in through allauth's login, so its rate limits and two-factor step apply there too.
admin.site.login = secure_admin_login(admin.site.login)

urlpatterns = [
    # Inbound webhooks first: they are the busiest URLs, and resolving walks this list in order.
    *trigger_hooks,
    *n8n_hooks,
    *stripe_webhooks,
    path("members/", views.members, name="member_list"),
    path("members/invite/", views.invitation_create, name="invitation_create"),
    path("members/leave/", views.membership_leave, name="membership_leave"),
    path("members/<int:membership_id>/role/", views.membership_role, name="membership_role"),
    path("members/<int:membership_id>/remove/", views.membership_remove, name="membership_remove"),
    path("invitations/<int:invitation_id>/resend/", views.invitation_resend, name="invitation_resend"),
    path("invitations/<int:invitation_id>/revoke/", views.invitation_revoke, name="invitation_revoke"),
    path("invite/<str:token>/", views.invitation_accept, name="invitation_accept"),
    path("workspaces/new/", views.workspace_create, name="workspace_create"),
    path("workspaces/switch/", views.workspace_switch, name="workspace_switch"),
    path("workspace/settings/", views.workspace_settings, name="workspace_settings"),
    path("workspace/delete/", views.workspace_delete, name="workspace_delete"),
    path("account/", views.account_settings, name="account_settings"),
    path("feedback/", views.feedback, name="feedback"),
    path("help/", views.help_page, name="help"),
    path("dev/mailbox/", views.dev_mailbox, name="dev_mailbox"),
    path("dev/mailbox/<str:mail_id>/", views.dev_mailbox, name="dev_mail"),
    path("favicon.ico", views.favicon),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", monitoring_views.readyz, name="readyz"),
    path("metrics", monitoring_views.metrics, name="metrics"),
    path("monitoring/", include("monitoring.urls")),
    path("", include("campaigns.urls")),
    path("", include("integrations.instagram.urls")),
    path("", include("integrations.n8n.urls")),
    path("", include("triggers.urls")),
    path("", include("integrations.cms.urls")),
    path("", include("billing.urls")),
    path("api/v1/", login_not_required(api.ApiRoot.as_view()), name="api_root"),
    path("api/v1/", include("campaigns.api_urls")),
    path("api/v1/", include("integrations.instagram.api_urls")),
    path("api/schema/", login_not_required(SpectacularAPIView.as_view()), name="api_schema"),
    path("api/docs/", login_not_required(SpectacularSwaggerSplitView.as_view(url_name="api_schema")), name="api_docs"),
    path("workspace/api-tokens/", views.api_tokens, name="api_tokens"),
    path("workspace/api-tokens/<int:token_id>/revoke/", views.api_token_revoke, name="api_token_revoke"),
    path("admin/", admin.site.urls),
    # Before allauth's own: the same sign-up, with an invitation's address locked in.
    path("accounts/signup/", views.signup, name="signup_invited"),
    path("accounts/", include("allauth.urls")),
    # Last: any other /api/ address answers a JSON 404, not the HTML page.
    re_path(r"^api/", login_not_required(api.not_found)),
]
