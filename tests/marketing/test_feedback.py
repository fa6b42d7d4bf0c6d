"""Marketers tell the team from any page; staff answer in the admin; the sender sees the answer."""

import pytest
from django.core import mail
from django.urls import reverse

from marketing import services
from marketing.models import Feedback, FeedbackKind, FeedbackStatus
from tests.factories import UserFactory


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """``with committed():`` runs what the block queued for after its commit (the emails) as it ends."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def staff(db):
    return UserFactory(email="staff@example.com", is_staff=True, is_superuser=True)


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


def _send(client, **fields):
    data = {"kind": FeedbackKind.PROBLEM, "message": "The calendar shows Monday twice.", **fields}
    return client.post(reverse("feedback"), data, HTTP_USER_AGENT="TestBrowser/1.0")


def test_it_stores_the_message_with_the_page_and_browser_and_goes_back_to_that_page(alice_client, alice, alice_workspace):
    response = _send(alice_client, page="/calendar/?month=2026-12")

    assert response.status_code == 302
    assert response["Location"] == "/calendar/?month=2026-12"
    feedback = Feedback.objects.get()
    assert (feedback.workspace, feedback.author, feedback.kind) == (alice_workspace, alice, FeedbackKind.PROBLEM)
    assert feedback.message == "The calendar shows Monday twice."
    assert (feedback.page, feedback.user_agent, feedback.status) == ("/calendar/?month=2026-12", "TestBrowser/1.0", FeedbackStatus.NEW)


def test_it_fills_in_the_page_the_form_was_opened_from(alice_client):
    response = alice_client.get(reverse("feedback"), {"from": "/campaigns/?q=linen"})

    assert response.context["form"]["page"].value() == "/campaigns/?q=linen"
    assert b'href="/campaigns/?q=linen"' in response.content


@pytest.mark.parametrize("page", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)"])
def test_it_never_sends_the_user_to_another_site_after_sending(alice_client, page):
    response = _send(alice_client, page=page)

    assert response["Location"] == reverse("feedback")
    assert Feedback.objects.get().page == ""


def test_it_emails_staff_with_the_admin_link(alice_client, staff, settings, committed):
    settings.PUBLIC_BASE_URL = "https://app.example"
    with committed():
        _send(alice_client, message="Please add TikTok.", kind=FeedbackKind.IDEA)

    [email] = mail.outbox
    assert email.to == ["staff@example.com"]
    assert email.subject == "[Feedback] An idea or a wish from Alice Co"
    assert "alice@example.com (Alice Co) wrote:" in email.body
    assert "Please add TikTok." in email.body
    assert f"https://app.example/admin/marketing/feedback/{Feedback.objects.get().pk}/change/" in email.body


def test_it_shows_what_is_wrong_and_keeps_what_was_typed(alice_client):
    response = _send(alice_client, message="   ", kind="complaint")

    assert response.status_code == 200
    form = response.context["form"]
    assert set(form.errors) == {"message", "kind"}
    assert not Feedback.objects.exists()


def test_it_refuses_a_message_past_the_hourly_limit_on_the_form(alice_client, alice, alice_workspace):
    for n in range(services.FEEDBACK_PER_HOUR):
        services.feedback_submit(workspace=alice_workspace, user=alice, kind=FeedbackKind.IDEA, message=f"Idea {n}")

    response = _send(alice_client, message="One more")

    assert response.status_code == 200
    assert "in the last hour" in " ".join(response.context["form"].non_field_errors())
    assert Feedback.objects.count() == services.FEEDBACK_PER_HOUR


def test_it_lists_only_what_the_user_sent_from_this_workspace(alice_client, alice, bob, alice_workspace, charlie):
    services.feedback_submit(workspace=alice_workspace, user=alice, kind=FeedbackKind.IDEA, message="Alice's idea")
    services.feedback_submit(workspace=alice_workspace, user=bob, kind=FeedbackKind.IDEA, message="Bob's idea")
    services.feedback_submit(
        workspace=charlie.memberships.get().workspace, user=charlie, kind=FeedbackKind.IDEA, message="Charlie's idea"
    )

    content = alice_client.get(reverse("feedback")).content.decode()

    assert "Alice&#x27;s idea" in content
    assert "Bob" not in content and "Charlie" not in content


def test_it_emails_the_reply_and_shows_it_with_the_status_to_the_sender(alice_client, alice, alice_workspace, staff, committed):
    feedback = services.feedback_submit(workspace=alice_workspace, user=alice, kind=FeedbackKind.QUESTION, message="Can I post reels?")

    with committed():
        services.feedback_respond(feedback=feedback, status=FeedbackStatus.PLANNED, reply="Not yet: reels are planned for spring.", by=staff)

    [email] = mail.outbox
    assert email.to == ["alice@example.com"]
    assert "Can I post reels?" in email.body and "Not yet: reels are planned for spring." in email.body
    content = alice_client.get(reverse("feedback")).content.decode()
    assert "Not yet: reels are planned for spring." in content
    assert "Planned" in content


def test_it_marks_a_new_message_read_when_staff_answer_it_and_emails_an_unchanged_reply_once(alice, alice_workspace, staff, committed):
    feedback = services.feedback_submit(workspace=alice_workspace, user=alice, kind=FeedbackKind.QUESTION, message="Why?")

    with committed():
        services.feedback_respond(feedback=feedback, status=FeedbackStatus.NEW, reply="Because.", by=staff)
    assert Feedback.objects.get().status == FeedbackStatus.READ
    with committed():
        services.feedback_respond(feedback=feedback, status=FeedbackStatus.DONE, reply="Because.", by=staff)

    feedback.refresh_from_db()
    assert (feedback.status, feedback.replied_by) == (FeedbackStatus.DONE, staff)
    assert len(mail.outbox) == 1


def test_it_lets_staff_answer_in_the_admin(staff_client, alice, alice_workspace, committed):
    feedback = services.feedback_submit(workspace=alice_workspace, user=alice, kind=FeedbackKind.PROBLEM, message="Broken")
    url = reverse("admin:marketing_feedback_change", args=[feedback.pk])

    assert staff_client.get(reverse("admin:marketing_feedback_changelist")).status_code == 200
    assert staff_client.get(url).status_code == 200
    with committed():
        response = staff_client.post(url, {"status": FeedbackStatus.DONE, "reply": "Fixed, thank you.", "message": "Edited"})

    assert response.status_code == 302
    feedback.refresh_from_db()
    assert (feedback.status, feedback.reply, feedback.message) == (FeedbackStatus.DONE, "Fixed, thank you.", "Broken")
    assert [m.to for m in mail.outbox] == [["alice@example.com"]]


def test_it_marks_feedback_from_the_admin_list(staff_client, alice, alice_workspace):
    first = services.feedback_submit(workspace=alice_workspace, user=alice, kind=FeedbackKind.IDEA, message="One")
    second = services.feedback_submit(workspace=alice_workspace, user=alice, kind=FeedbackKind.IDEA, message="Two")

    staff_client.post(
        reverse("admin:marketing_feedback_changelist"), {"action": "mark_planned", "_selected_action": [first.pk, second.pk]}
    )

    assert set(Feedback.objects.values_list("status", flat=True)) == {FeedbackStatus.PLANNED}


def test_it_offers_feedback_from_every_page_with_the_page_filled_in(alice_client):
    content = alice_client.get("/campaigns/?q=a&status=draft").content.decode()

    assert 'href="/feedback/?from=/campaigns/%3Fq%3Da%26status%3Ddraft"' in content

