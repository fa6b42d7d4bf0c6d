import hashlib
import logging
import smtplib

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.utils import filter_users_by_email
from allauth.core.internal import ratelimit
from allauth.mfa.adapter import DefaultMFAAdapter
from allauth.mfa.models import Authenticator
from cryptography.fernet import InvalidToken
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction

from integrations import crypto

from . import outbox

from .services import invitation_accept, invitation_from_token, workspace_create, workspace_switch

logger = logging.getLogger(__name__)

# Failed logins of one account from every address together (ACCOUNT_RATE_LIMITS); the per-address
# limits stay on allauth's own "login_failed" action.
LOGIN_CEILING_ACTION = "login_failed_account"

# Set by the invitation page for a visitor without an account; sign-up then joins that workspace.
SESSION_INVITATION_KEY = "invitation_token"


class AccountAdapter(DefaultAccountAdapter):
    # Failed logins are limited three ways (ACCOUNT_RATE_LIMITS): per client address, per address and
    # account ("login_failed"), and per account from all addresses ("login_failed_account"), whose
    # ceiling is high so that a stranger cannot lock the owner out from one address. The counters
    # live in the cache, which fails open (marketing/cache.py): without Redis nothing is limited.

    def _get_login_attempts_cache_key(self, request, **credentials) -> str:
        # allauth's "key" is the account alone, so 5 wrong passwords from anywhere lock it for
        # everyone; keyed by address and account they lock only that address out.
        return f"{super()._get_login_attempts_cache_key(request, **credentials)}:{ratelimit.get_ip(request)}"

    def _account_key(self, request, **credentials) -> str:
        return super()._get_login_attempts_cache_key(request, **credentials)

    def pre_authenticate(self, request, **credentials) -> None:
        super().pre_authenticate(request, **credentials)
        key = self._account_key(request, **credentials)
        self._login_ceiling_usage = ratelimit.consume(request, app="allauth.account", action=LOGIN_CEILING_ACTION, key=key)
        if not self._login_ceiling_usage:
            self._rollback_login_failed_rl_usage()
            self._login_ceiling_tripped(request, key=key, email=credentials.get("email", ""))
            raise self.validation_error("too_many_login_attempts")

    def _rollback_login_failed_rl_usage(self) -> None:
        super()._rollback_login_failed_rl_usage()
        usage = getattr(self, "_login_ceiling_usage", None)
        if usage:
            usage.rollback()

    def _delete_login_attempts_cached_email(self, request, **credentials) -> None:
        # A successful password reset proves the owner: lift the account's ceiling too.
        super()._delete_login_attempts_cached_email(request, **credentials)
        ratelimit.clear(request, app="allauth.account", action=LOGIN_CEILING_ACTION, key=self._account_key(request, **credentials))

    def _login_ceiling_tripped(self, request, *, key: str, email: str) -> None:
        """Tells the account's owner, once per lockout window, that sign-ins are paused."""
        rates = ratelimit.get_rates(app="allauth.account", action=LOGIN_CEILING_ACTION)
        window = int(max(rate.duration for rate in rates))
        digest = hashlib.sha256(key.encode()).hexdigest()
        users = list(filter_users_by_email(email, is_active=True, prefer_verified=True)) if email else []
        logger.warning("login ceiling reached", extra={"account": digest[:12], "known": bool(users)})
        if not users or not cache.add(f"login-ceiling-notified:{digest}", True, timeout=window):
            return
        from .tasks import send_login_lockout_email

        outbox.send(send_login_lockout_email, users[0].pk, window // 60)

    def send_notification_mail(self, template_prefix, user, context=None, email=None) -> None:
        # A security notice (password, email address or two-factor changed) is sent after the change
        # is made: a mail server that does not answer must not turn the change into an error page.
        try:
            super().send_notification_mail(template_prefix, user, context=context, email=email)
        except (OSError, smtplib.SMTPException):
            logger.warning("security notice not sent", extra={"notice": template_prefix, "user_id": user.pk}, exc_info=True)

    def save_user(self, request, user, form, commit=True):
        invitation = self._invitation(request, email=form.cleaned_data.get("email", ""))
        # The browser's zone (sent by the sign-up form), else the inviting workspace's.
        zone = form.cleaned_data.get("timezone") or (invitation.workspace.timezone if invitation else "")
        if zone:
            user.timezone = zone
        user = super().save_user(request, user, form, commit=commit)
        if not commit:
            return user
        if invitation is not None:
            # Signing up from an invitation joins its workspace instead of starting an empty one.
            try:
                membership = invitation_accept(invitation=invitation, user=user)
            except ValidationError:
                invitation = None
            else:
                workspace_switch(request=request, workspace=membership.workspace)
                request.session.pop(SESSION_INVITATION_KEY, None)
        if invitation is None:
            # Every new account starts with a workspace of its own, in its own zone, so the app is usable at once.
            local_part = user.email.split("@")[0]
            workspace_create(name=f"{local_part}'s workspace", owner=user, timezone_name=user.timezone)
        return user

    def _invitation(self, request, *, email: str):
        token = request.session.get(SESSION_INVITATION_KEY) if request is not None else None
        invitation = invitation_from_token(token) if token else None
        if invitation is None or not invitation.is_pending or invitation.email.lower() != email.lower():
            return None
        return invitation


class MFAAdapter(DefaultMFAAdapter):
    """Two-factor secrets (the TOTP key, the recovery codes' seed) are stored encrypted with
    FIELD_ENCRYPTION_KEYS, like the tokens of outside services, so the same keys and rotation apply."""

    def encrypt(self, text: str) -> str:
        return crypto.encrypt(text)

    def decrypt(self, encrypted_text: str) -> str:
        try:
            return crypto.decrypt(encrypted_text)
        except InvalidToken:
            # Fails closed: an empty secret would make codes anyone can compute. The user cannot
            # sign in until the retired key is put back (FIELD_ENCRYPTION_KEYS).
            logger.error("cannot decrypt a two-factor secret")
            raise


# The values allauth passes through encrypt() in each authenticator's data.
_MFA_ENCRYPTED_KEYS = ("secret", "seed")


def mfa_secrets_reencrypt() -> tuple[int, int]:
    """Re-encrypts every two-factor secret with the first FIELD_ENCRYPTION_KEYS key (for
    ``manage.py reencrypt_secrets``); returns how many authenticators were re-encrypted and how
    many held a value no key opens, which are left as they are."""
    keys = crypto.fernet()
    done = unreadable = 0
    types = [Authenticator.Type.TOTP, Authenticator.Type.RECOVERY_CODES]
    for pk in Authenticator.objects.filter(type__in=types).values_list("pk", flat=True).iterator():
        # Locked while rewritten: marking a recovery code used saves the row too, and must not be lost.
        with transaction.atomic():
            authenticator = Authenticator.objects.select_for_update().filter(pk=pk).first()
            if authenticator is None:
                continue
            data = dict(authenticator.data)
            try:
                for key in _MFA_ENCRYPTED_KEYS:
                    if data.get(key):
                        data[key] = keys.rotate(data[key].encode()).decode()
                if data.get("migrated_codes"):
                    data["migrated_codes"] = [keys.rotate(code.encode()).decode() for code in data["migrated_codes"]]
            except InvalidToken:
                unreadable += 1
                continue
            authenticator.data = data
            authenticator.save(update_fields=["data"])
            done += 1
    return done, unreadable
