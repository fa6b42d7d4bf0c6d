"""Failed logins are limited per address and per address-and-account; a high per-account ceiling
across all addresses pauses sign-ins and emails the owner once per lockout window."""

import pytest
from django.core import mail
from django.urls import reverse

from tests.factories import PASSWORD

LOGIN = "account_login"
TOO_MANY = b"Too many failed login attempts"


def _login(client, email: str, password: str, address: str):
    return client.post(reverse(LOGIN), {"login": email, "password": password}, REMOTE_ADDR=address)


@pytest.fixture
def ceiling(settings):
    """A ceiling of 8 failures in 15 minutes, reachable from a few addresses in a test."""
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "login_failed_account": "8/15m/key"}


def test_it_locks_out_the_address_that_sent_the_wrong_passwords(client, alice):
    for _ in range(5):
        _login(client, alice.email, "wrong", "203.0.113.1")
    assert TOO_MANY in _login(client, alice.email, PASSWORD, "203.0.113.1").content


def test_it_does_not_lock_the_owner_out_from_another_address(client, alice):
    for _ in range(5):
        _login(client, alice.email, "wrong", "203.0.113.1")
    response = _login(client, alice.email, PASSWORD, "198.51.100.7")
    assert response.status_code == 302
    assert int(client.session["_auth_user_id"]) == alice.pk


def test_it_limits_one_address_across_accounts(client, alice, bob):
    for n in range(10):
        _login(client, f"nobody{n}@example.com", "wrong", "203.0.113.1")
    assert TOO_MANY in _login(client, bob.email, PASSWORD, "203.0.113.1").content


def test_it_pauses_the_account_at_the_ceiling_and_emails_the_owner_once(client, alice, ceiling):
    for n in range(12):  # 4 addresses, 3 wrong passwords each: under the per-address limit everywhere
        _login(client, alice.email, "wrong", f"203.0.113.{n // 3 + 1}")
    assert TOO_MANY in _login(client, alice.email, PASSWORD, "198.51.100.7").content
    assert [message.to for message in mail.outbox] == [[alice.email]]
    assert "paused" in mail.outbox[0].subject and "reset" in mail.outbox[0].body


def test_it_emails_nobody_when_the_ceiling_trips_for_an_unknown_address(client, db, ceiling):
    for n in range(12):
        _login(client, "nobody@example.com", "wrong", f"203.0.113.{n // 3 + 1}")
    assert mail.outbox == []


def test_it_counts_only_failures_against_the_ceiling(client, alice, ceiling):
    for n in range(12):
        _login(client, alice.email, PASSWORD, f"203.0.113.{n // 3 + 1}")
        client.logout()
    response = _login(client, alice.email, PASSWORD, "198.51.100.7")
    assert response.status_code == 302
    assert mail.outbox == []


def test_it_fails_open_when_the_cache_is_down(redis_down, client, alice, ceiling):
    for n in range(12):
        _login(client, alice.email, "wrong", "203.0.113.1")
    assert _login(client, alice.email, PASSWORD, "203.0.113.1").status_code == 302
