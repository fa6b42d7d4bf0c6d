"""Refreshing long-lived tokens before they expire."""

import logging
from datetime import timedelta

from django.core import mail
from django.utils import timezone

from integrations.instagram import tasks
from integrations.instagram.models import InstagramAccount

from .conftest import LONG_TOKEN


def test_it_refreshes_tokens_that_expire_within_a_week(graph, account):
    InstagramAccount.objects.filter(pk=account.pk).update(token_expires_at=timezone.now() + timedelta(days=6))

    assert tasks.refresh_expiring_tokens.delay().get() == 1

    account.refresh_from_db()
    assert account.access_token == LONG_TOKEN + "-fresh"
    assert account.token_expires_at > timezone.now() + timedelta(days=59)
    assert account.token_refreshed_at is not None
    refresh = graph.called("refresh")[0]
    assert (refresh.params["grant_type"], refresh.params["fb_exchange_token"]) == ("fb_exchange_token", LONG_TOKEN)


def test_it_leaves_tokens_that_expire_later_and_accounts_that_are_not_connected(graph, account, alice_workspace):
    InstagramAccount.objects.create(
        workspace=alice_workspace,
        ig_user_id="2",
        username="gone",
        page_id="3",
        status="disconnected",
        token_expires_at=timezone.now() + timedelta(days=1),
    )

    assert tasks.refresh_expiring_tokens.delay().get() == 0

    assert graph.calls == []


def test_it_marks_the_account_needs_reconnect_and_emails_the_owners_on_a_refused_refresh(
    graph, account, alice, django_capture_on_commit_callbacks
):
    InstagramAccount.objects.filter(pk=account.pk).update(token_expires_at=timezone.now() + timedelta(days=2))
    graph.fail("refresh", code=190, subcode=460, message="The session has been invalidated because the user changed their password.")

    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.refresh_expiring_tokens.delay().get() == 0

    account.refresh_from_db()
    assert account.status == "needs_reconnect"
    assert "changed their password" in account.last_error
    assert account.access_token == LONG_TOKEN
    assert [message.to for message in mail.outbox] == [["alice@example.com"]]
    assert "changed their password" in mail.outbox[0].body


def test_it_emails_the_owners_once_per_incident(graph, account, alice, django_capture_on_commit_callbacks):
    InstagramAccount.objects.filter(pk=account.pk).update(token_expires_at=timezone.now() + timedelta(days=2))
    graph.fail("refresh", code=190, message="Invalid OAuth access token.", times=2)

    with django_capture_on_commit_callbacks(execute=True):
        tasks.refresh_expiring_tokens.delay()
        InstagramAccount.objects.filter(pk=account.pk).update(status="connected")
        InstagramAccount.objects.filter(pk=account.pk).update(status="needs_reconnect")
        tasks.refresh_expiring_tokens.delay()

    assert len(mail.outbox) == 1


def test_it_keeps_the_account_connected_when_the_refresh_fails_for_another_reason(graph, account):
    InstagramAccount.objects.filter(pk=account.pk).update(token_expires_at=timezone.now() + timedelta(days=2))
    graph.fail("refresh", code=2, message="Service temporarily unavailable", transient=True, times=5)

    assert tasks.refresh_expiring_tokens.delay().get() == 0

    account.refresh_from_db()
    assert (account.status, account.access_token) == ("connected", LONG_TOKEN)


def test_it_logs_refreshes_and_their_failures_without_the_token(graph, account, caplog, alice_workspace):
    other = InstagramAccount.objects.create(
        workspace=alice_workspace, ig_user_id="2", username="other", page_id="3", access_token="EAAothertokenSECRET789"
    )
    InstagramAccount.objects.filter(pk__in=[account.pk, other.pk]).update(token_expires_at=timezone.now() + timedelta(days=2))
    graph.fail("long_lived", code=190, message="Error validating access token")

    with caplog.at_level(logging.DEBUG):
        tasks.refresh_expiring_tokens.delay()

    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "instagram token refreshed" in logged
    assert "needs reconnecting" in logged
    for secret in (LONG_TOKEN, "EAAothertokenSECRET789", "app-secret-not-for-logs"):
        assert secret not in logged
