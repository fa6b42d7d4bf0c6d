"""Two-factor authentication (allauth.mfa): an authenticator app and recovery codes, asked for after
the password on every login, the admin's included, with the secrets encrypted at rest."""

import json
import time
from datetime import UTC, datetime

import pytest
import time_machine
from allauth.mfa import app_settings as mfa_settings
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, generate_totp_secret, hotp_value
from cryptography.fernet import Fernet, InvalidToken
from django.core.mail.backends.base import BaseEmailBackend
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from integrations import crypto
from marketing.adapters import MFAAdapter
from tests.factories import PASSWORD

SECRET_SESSION_KEY = "mfa.totp.secret"
INCORRECT = "Incorrect code."


@pytest.fixture(autouse=True)
def frozen():
    """The clock stands still a few seconds into a TOTP period, so a code computed here is the one the server expects."""
    with time_machine.travel(datetime(2026, 3, 2, 9, 0, 5, tzinfo=UTC), tick=False):
        yield


def _code(secret: str, steps: int = 0) -> str:
    """The code an authenticator app shows now (or ``steps`` periods away), from allauth's own TOTP helpers."""
    return format_hotp_value(hotp_value(secret, int(time.time()) // mfa_settings.TOTP_PERIOD + steps))


def _wrong_code(secret: str) -> str:
    """A code that no accepted period (the tolerance included) produces."""
    accepted = {_code(secret, steps) for steps in range(-mfa_settings.TOTP_TOLERANCE, mfa_settings.TOTP_TOLERANCE + 1)}
    return next(code for code in (f"{n:06}" for n in range(10**6)) if code not in accepted)


def _with_totp(user) -> str:
    """Turns on the authenticator app and recovery codes for ``user`` as the activation does; returns the secret."""
    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    RecoveryCodes.activate(user)
    return secret


def _recovery_codes(user) -> list[str]:
    return Authenticator.objects.get(user=user, type=Authenticator.Type.RECOVERY_CODES).wrap().get_unused_codes()


def _login(client, user, next_url: str = ""):
    data = {"login": user.email, "password": PASSWORD}
    if next_url:
        data["next"] = next_url
    return client.post(reverse("account_login"), data)


def _signed_in_as(client) -> int | None:
    user_id = client.session.get("_auth_user_id")
    return int(user_id) if user_id else None


def _reauthenticated(client, user):
    """Signed in and just confirmed the password: allauth asks for it again before 2FA settings change."""
    client.force_login(user)
    client.post(reverse("account_reauthenticate"), {"password": PASSWORD})
    return client


def _stored_data(user) -> list[str]:
    """Each of the user's authenticators' data as the database holds it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT data FROM mfa_authenticator WHERE user_id = %s", [user.pk])
        return [row[0] if isinstance(row[0], str) else json.dumps(row[0]) for row in cursor.fetchall()]


def test_it_activates_the_authenticator_app_with_a_valid_code(client, alice):
    _reauthenticated(client, alice)
    client.get(reverse("mfa_activate_totp"))
    secret = client.session[SECRET_SESSION_KEY]

    response = client.post(reverse("mfa_activate_totp"), {"code": _code(secret)})

    assert response.status_code == 302 and response["Location"] == reverse("mfa_view_recovery_codes")
    assert set(Authenticator.objects.filter(user=alice).values_list("type", flat=True)) == {"totp", "recovery_codes"}


def test_it_refuses_a_wrong_code_at_activation_with_a_message(client, alice):
    _reauthenticated(client, alice)
    client.get(reverse("mfa_activate_totp"))

    response = client.post(reverse("mfa_activate_totp"), {"code": _wrong_code(client.session[SECRET_SESSION_KEY])})

    assert response.status_code == 200
    assert INCORRECT in response.content.decode()
    assert not Authenticator.objects.filter(user=alice).exists()


def test_it_asks_for_a_password_again_before_activating(client, alice):
    client.force_login(alice)

    response = client.get(reverse("mfa_activate_totp"))

    assert response.status_code == 302 and response["Location"].startswith(reverse("account_reauthenticate"))


def test_it_asks_for_the_code_after_the_password(client, alice):
    _with_totp(alice)

    response = _login(client, alice)

    assert response.status_code == 302 and response["Location"] == reverse("mfa_authenticate")
    assert _signed_in_as(client) is None


def test_it_signs_in_with_the_code(client, alice):
    secret = _with_totp(alice)
    _login(client, alice)

    response = client.post(reverse("mfa_authenticate"), {"code": _code(secret)})

    assert response.status_code == 302 and response["Location"] == reverse("dashboard")
    assert _signed_in_as(client) == alice.pk


def test_it_refuses_a_wrong_code_at_login_with_a_message(client, alice):
    secret = _with_totp(alice)
    _login(client, alice)

    response = client.post(reverse("mfa_authenticate"), {"code": _wrong_code(secret)})

    assert response.status_code == 200
    assert INCORRECT in response.content.decode()
    assert _signed_in_as(client) is None


def test_it_refuses_a_code_used_once_already(client, alice):
    secret = _with_totp(alice)
    _login(client, alice)
    client.post(reverse("mfa_authenticate"), {"code": _code(secret)})
    client.logout()
    _login(client, alice)

    response = client.post(reverse("mfa_authenticate"), {"code": _code(secret)})

    assert INCORRECT in response.content.decode()
    assert _signed_in_as(client) is None


def test_it_stops_taking_codes_after_five_wrong_ones(client, alice):
    secret = _with_totp(alice)
    _login(client, alice)
    for _ in range(5):
        client.post(reverse("mfa_authenticate"), {"code": _wrong_code(secret)})

    response = client.post(reverse("mfa_authenticate"), {"code": _code(secret)})

    assert "Too many failed login attempts" in response.content.decode()
    assert _signed_in_as(client) is None


def test_it_accepts_a_recovery_code_once_and_only_once(client, alice):
    _with_totp(alice)
    code = _recovery_codes(alice)[0]
    _login(client, alice)
    client.post(reverse("mfa_authenticate"), {"code": code})
    assert _signed_in_as(client) == alice.pk
    client.logout()
    _login(client, alice)

    response = client.post(reverse("mfa_authenticate"), {"code": code})

    assert INCORRECT in response.content.decode()
    assert _signed_in_as(client) is None
    assert code not in _recovery_codes(alice)


def test_it_sends_the_admin_login_to_allauths_login(client, staff_alice):
    response = client.get("/admin/login/?next=/admin/")

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('account_login')}?next=%2Fadmin%2F"


def test_it_does_not_sign_in_through_djangos_admin_login_form(client, staff_alice):
    _with_totp(staff_alice)

    client.post("/admin/login/?next=/admin/", {"username": staff_alice.email, "password": PASSWORD})

    assert _signed_in_as(client) is None
    assert client.get("/admin/").status_code == 302


def test_it_asks_a_staff_member_for_the_code_on_the_way_to_the_admin(client, staff_alice):
    secret = _with_totp(staff_alice)
    response = _login(client, staff_alice, next_url="/admin/")
    assert response["Location"] == reverse("mfa_authenticate")
    assert client.get("/admin/").status_code == 302

    response = client.post(reverse("mfa_authenticate"), {"code": _code(secret)})

    assert response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_it_refuses_the_admin_to_a_signed_in_member_who_is_not_staff(client, bob):
    client.force_login(bob)

    assert client.get("/admin/login/").status_code == 403


def test_it_stores_the_totp_secret_encrypted(alice):
    secret = _with_totp(alice)

    stored = Authenticator.objects.get(user=alice, type=Authenticator.Type.TOTP).data["secret"]

    assert all(secret not in data for data in _stored_data(alice))
    assert crypto.decrypt(stored) == secret


def test_it_stores_the_recovery_codes_seed_encrypted(alice):
    _with_totp(alice)

    data = Authenticator.objects.get(user=alice, type=Authenticator.Type.RECOVERY_CODES).data
    seed = crypto.decrypt(data["seed"])

    assert data["seed"] != seed
    assert all(seed not in data for data in _stored_data(alice))


def test_it_stores_an_activated_secret_encrypted(client, alice):
    _reauthenticated(client, alice)
    client.get(reverse("mfa_activate_totp"))
    secret = client.session[SECRET_SESSION_KEY]

    client.post(reverse("mfa_activate_totp"), {"code": _code(secret)})

    assert len(_stored_data(alice)) == 2
    assert all(secret not in data for data in _stored_data(alice))


def test_it_fails_closed_when_no_key_opens_a_secret():
    # An empty secret would give codes anyone can compute.
    with pytest.raises(InvalidToken):
        MFAAdapter().decrypt(Fernet(Fernet.generate_key()).encrypt(b"JBSWY3DPEHPK3PXP").decode())


def test_it_moves_two_factor_secrets_to_the_new_key_when_reencrypting(client, settings, alice):
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old_key]
    secret = _with_totp(alice)
    code = _recovery_codes(alice)[0]
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]

    call_command("reencrypt_secrets", stdout=open("/dev/null", "w"))
    settings.FIELD_ENCRYPTION_KEYS = [new_key]
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "a-brand-new-secret-key-" + "z" * 40, []

    assert _recovery_codes(alice)[0] == code
    _login(client, alice)
    client.post(reverse("mfa_authenticate"), {"code": _code(secret)})
    assert _signed_in_as(client) == alice.pk


def test_it_shows_two_factor_off_on_the_account_page(client, alice):
    client.force_login(alice)

    page = client.get(reverse("account_settings")).content.decode()

    assert 'Two-factor authentication <span class="badge">Off</span>' in page
    assert reverse("mfa_activate_totp") in page


def test_it_shows_two_factor_on_on_the_account_page(client, alice):
    _with_totp(alice)
    client.force_login(alice)

    page = client.get(reverse("account_settings")).content.decode()

    assert 'Two-factor authentication <span class="badge badge-success">On</span>' in page
    assert reverse("mfa_index") in page


# Committed for real: allauth sends the notice once the activation commits, while the request is still its context.
@pytest.mark.django_db(transaction=True)
def test_it_emails_a_security_notice_when_the_authenticator_app_is_turned_on(client, alice, mailoutbox):
    _reauthenticated(client, alice)
    client.get(reverse("mfa_activate_totp"))

    client.post(reverse("mfa_activate_totp"), {"code": _code(client.session[SECRET_SESSION_KEY])})

    assert [(mail.to, mail.subject) for mail in mailoutbox] == [(["alice@example.com"], "[Marketing] Authenticator App Activated")]


def test_it_emails_a_security_notice_when_the_password_changes(client, alice, mailoutbox):
    client.force_login(alice)

    client.post(
        reverse("account_change_password"),
        {"oldpassword": PASSWORD, "password1": "a-new-password-5678", "password2": "a-new-password-5678"},
    )

    assert [(mail.to, mail.subject) for mail in mailoutbox] == [(["alice@example.com"], "[Marketing] Password Changed")]


def test_it_changes_the_password_even_when_the_notice_cannot_be_sent(client, alice, settings, caplog):
    settings.EMAIL_BACKEND = "tests.marketing.test_mfa.RefusingBackend"
    client.force_login(alice)

    response = client.post(
        reverse("account_change_password"),
        {"oldpassword": PASSWORD, "password1": "a-new-password-5678", "password2": "a-new-password-5678"},
    )

    alice.refresh_from_db()
    assert response.status_code == 302
    assert alice.check_password("a-new-password-5678")
    assert "security notice not sent" in caplog.text


class RefusingBackend(BaseEmailBackend):
    """A mail server that refuses the connection."""

    def send_messages(self, messages):
        raise ConnectionRefusedError("no mail server")
