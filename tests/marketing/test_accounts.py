import re
from urllib.parse import urlsplit

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.urls import reverse

from marketing.models import Membership, User
from tests.factories import PASSWORD, UserFactory

NEW_PASSWORD = "a much better passphrase 42"


def _link_in(message, path_prefix: str) -> str:
    """The path of the first link in an email that starts with ``path_prefix``."""
    for url in re.findall(r"https?://\S+", message.body):
        if urlsplit(url).path.startswith(path_prefix):
            return urlsplit(url).path
    raise AssertionError(message.body)


def _sign_up(client, email="dana@example.com"):
    return client.post(
        reverse("account_signup"), {"email": email, "password1": PASSWORD, "password2": PASSWORD}
    )


@pytest.mark.django_db
def test_it_creates_a_workspace_owned_by_a_new_user():
    from django.test import Client

    _sign_up(Client())
    user = User.objects.get(email="dana@example.com")
    membership = Membership.objects.get(user=user)
    assert membership.role == "owner"
    assert membership.workspace.name == "dana's workspace"


@pytest.mark.django_db
def test_it_sends_a_verification_email_and_refuses_login_until_verified(client):
    _sign_up(client)
    assert len(mail.outbox) == 1
    assert "confirm-email" in mail.outbox[0].body
    client.logout()

    response = client.post(reverse("account_login"), {"login": "dana@example.com", "password": PASSWORD})

    assert response.status_code == 302
    assert response.url == reverse("account_email_verification_sent")
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_it_logs_in_after_the_email_is_confirmed(client):
    _sign_up(client)
    confirm_path = _link_in(mail.outbox[0], "/accounts/confirm-email/")
    client.logout()

    client.post(confirm_path)
    assert EmailAddress.objects.get(email="dana@example.com").verified
    response = client.post(reverse("account_login"), {"login": "dana@example.com", "password": PASSWORD})

    assert response.status_code == 302
    assert client.get(reverse("dashboard")).status_code == 200


@pytest.mark.django_db
def test_it_resets_a_forgotten_password(client):
    user = UserFactory(email="erin@example.com")

    client.post(reverse("account_reset_password"), {"email": "erin@example.com"})
    reset_path = _link_in(mail.outbox[0], "/accounts/password/reset/key/")
    # allauth moves the key out of the URL into the session before showing the form.
    form_path = client.get(reset_path).url
    client.post(form_path, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})

    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)


@pytest.mark.django_db
def test_it_changes_the_password_of_a_signed_in_user(alice_client, alice):
    alice_client.post(
        reverse("account_change_password"),
        {"oldpassword": PASSWORD, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    alice.refresh_from_db()
    assert alice.check_password(NEW_PASSWORD)


@pytest.mark.django_db
def test_it_requires_login_for_app_pages(client):
    for name in ("dashboard", "member_list", "workspace_settings", "account_settings", "workspace_create"):
        response = client.get(reverse(name))
        assert response.status_code == 302, name
        assert response.url.startswith(reverse("account_login")), name


@pytest.mark.django_db
def test_it_rate_limits_failed_logins(client, alice):
    for _ in range(5):
        client.post(reverse("account_login"), {"login": alice.email, "password": "wrong"})

    response = client.post(reverse("account_login"), {"login": alice.email, "password": "wrong again"})

    assert b"Too many failed login attempts" in response.content


@pytest.mark.django_db
def test_it_saves_account_settings(alice_client, alice):
    response = alice_client.post(reverse("account_settings"), {"name": "Alice A", "timezone": "Asia/Tokyo"})
    assert response.status_code == 302
    alice.refresh_from_db()
    assert (alice.name, alice.timezone) == ("Alice A", "Asia/Tokyo")


@pytest.mark.django_db
def test_it_shows_an_error_beside_a_bad_time_zone(alice_client):
    response = alice_client.post(reverse("account_settings"), {"name": "A", "timezone": "Mars/Olympus"})
    assert response.status_code == 200
    assert b"field-errors" in response.content


@pytest.mark.django_db
def test_it_gives_a_new_account_and_its_workspace_the_browsers_time_zone(client):
    client.post(
        reverse("account_signup"),
        {"email": "dana@example.com", "password1": PASSWORD, "password2": PASSWORD, "timezone": "Europe/Berlin"},
    )
    user = User.objects.get(email="dana@example.com")
    assert user.timezone == "Europe/Berlin"
    assert Membership.objects.get(user=user).workspace.timezone == "Europe/Berlin"


@pytest.mark.django_db
def test_it_ignores_an_unknown_browser_zone(client):
    client.post(
        reverse("account_signup"),
        {"email": "dana@example.com", "password1": PASSWORD, "password2": PASSWORD, "timezone": "Mars/Olympus"},
    )
    assert User.objects.get(email="dana@example.com").timezone == "UTC"
