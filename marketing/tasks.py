from celery import shared_task
from django.conf import settings
from django.urls import reverse

from . import idempotency, outbox
from .emails import send_templated
from .webhooks import signature
from .models import Feedback, Invitation, User
from .services import invitation_token


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_invitation_email(invitation_id: int) -> None:
    invitation = Invitation.objects.select_related("workspace", "invited_by").filter(pk=invitation_id).first()
    if invitation is None or invitation.accepted_at is not None:
        return
    url = settings.PUBLIC_BASE_URL + reverse("invitation_accept", args=[invitation_token(invitation)])
    context = {"invitation": invitation, "url": url}
    send_templated("marketing/email/invitation", context, [invitation.email])


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_login_lockout_email(user_id: int, minutes: int) -> None:
    """Tells an account's owner that too many wrong passwords from many addresses paused its sign-ins."""
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return
    context = {"user": user, "minutes": minutes, "reset_url": settings.PUBLIC_BASE_URL + reverse("account_reset_password")}
    send_templated("marketing/email/login_lockout", context, [user.email])


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_feedback_to_staff(feedback_id: int) -> None:
    """Emails a marketer's new feedback to active staff, with the admin link to answer it."""
    from monitoring.notify import recipients

    feedback = Feedback.objects.select_related("workspace", "author").filter(pk=feedback_id).first()
    to = recipients()
    if feedback is None or not to:
        return
    url = settings.PUBLIC_BASE_URL + reverse("admin:marketing_feedback_change", args=[feedback.pk])
    context = {"feedback": feedback, "url": url}
    send_templated("marketing/email/feedback_staff", context, to)


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_feedback_reply(feedback_id: int) -> None:
    """Emails the team's reply to the marketer who sent the feedback."""
    feedback = Feedback.objects.select_related("author").filter(pk=feedback_id, author__is_active=True).exclude(reply="").first()
    if feedback is None:
        return
    context = {"feedback": feedback, "url": settings.PUBLIC_BASE_URL + reverse("feedback")}
    send_templated("marketing/email/feedback_reply", context, [feedback.author.email])


@shared_task
def prune_idempotency_keys() -> int:
    return idempotency.prune()


@shared_task
def prune_webhook_receipts() -> int:
    return signature.prune()


@shared_task
def drain_outbox() -> int:
    return outbox.drain()


@shared_task
def backup_scheduled() -> str:
    """Beat, daily: a backup into BACKUP_DIR (when set), then its heartbeat for the stale-backup alert."""
    from pathlib import Path

    from monitoring.services import heartbeat_touch

    from . import backups

    if not settings.BACKUP_DIR:
        return ""
    backup = backups.backup_create(output=Path(settings.BACKUP_DIR), keep=max(1, settings.BACKUP_KEEP))
    heartbeat_touch(name="backup")
    return str(backup.path)
