from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse

from . import idempotency, outbox
from .webhooks import signature
from .models import Invitation, User
from .services import invitation_token


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_invitation_email(invitation_id: int) -> None:
    invitation = Invitation.objects.select_related("workspace", "invited_by").filter(pk=invitation_id).first()
    if invitation is None or invitation.accepted_at is not None:
        return
    url = settings.PUBLIC_BASE_URL + reverse("invitation_accept", args=[invitation_token(invitation)])
    context = {"invitation": invitation, "url": url}
    send_mail(
        subject=render_to_string("marketing/email/invitation_subject.txt", context).strip(),
        message=render_to_string("marketing/email/invitation_message.txt", context),
        from_email=None,
        recipient_list=[invitation.email],
    )


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_login_lockout_email(user_id: int, minutes: int) -> None:
    """Tells an account's owner that too many wrong passwords from many addresses paused its sign-ins."""
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return
    context = {"user": user, "minutes": minutes, "reset_url": settings.PUBLIC_BASE_URL + reverse("account_reset_password")}
    send_mail(
        subject=render_to_string("marketing/email/login_lockout_subject.txt", context).strip(),
        message=render_to_string("marketing/email/login_lockout_message.txt", context),
        from_email=None,
        recipient_list=[user.email],
    )


@shared_task
def prune_idempotency_keys() -> int:
    return idempotency.prune()


@shared_task
def prune_webhook_receipts() -> int:
    return signature.prune()


@shared_task
def drain_outbox() -> int:
    return outbox.drain()
