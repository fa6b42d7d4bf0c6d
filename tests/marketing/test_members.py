import re
from datetime import timedelta

import time_machine
from allauth.account.models import EmailAddress
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from marketing.models import Invitation, Membership, User
from marketing.services import invitation_from_token, invitation_token
from tests.factories import InvitationFactory, MembershipFactory, UserFactory


def _invite(client, email="frank@example.com", role="member"):
    return client.post(reverse("invitation_create"), {"email": email, "role": role})


def test_it_invites_by_email(alice_client, alice_workspace, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = _invite(alice_client)

    assert response.status_code == 302
    invitation = Invitation.objects.get(workspace=alice_workspace)
    assert invitation.email == "frank@example.com"
    assert mail.outbox[0].to == ["frank@example.com"]
    # The link's token is signed with the time it was made: read it from the mail, not made again.
    token = re.search(r"/invite/([^/\s]+)/", mail.outbox[0].body).group(1)
    assert invitation_from_token(token) == invitation


def test_it_refuses_a_second_pending_invitation_for_the_same_email(alice_client, alice_workspace):
    _invite(alice_client)
    response = _invite(alice_client, email="FRANK@example.com")

    assert response.status_code == 200
    assert b"already has a pending invitation" in response.content
    assert Invitation.objects.filter(workspace=alice_workspace).count() == 1


def test_it_answers_an_htmx_invite_with_the_members_fragment(alice_client):
    response = alice_client.post(
        reverse("invitation_create"), {"email": "hank@example.com", "role": "member"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert b"<html" not in response.content
    assert b"hank@example.com" in response.content


def test_it_does_not_let_a_member_invite(client, bob, alice_workspace):
    client.force_login(bob)
    response = _invite(client)
    assert response.status_code == 403
    assert not Invitation.objects.exists()


def test_it_does_not_let_an_admin_invite_an_owner(client, alice, alice_workspace):
    admin = MembershipFactory(workspace=alice_workspace, role="admin").user
    client.force_login(admin)
    assert _invite(client, role="owner").status_code == 403


def test_it_adds_the_membership_when_the_invited_user_accepts(client, alice_workspace, alice):
    invitation = InvitationFactory(workspace=alice_workspace, email="frank@example.com", invited_by=alice)
    frank = UserFactory(email="frank@example.com")
    client.force_login(frank)

    response = client.post(reverse("invitation_accept", args=[invitation_token(invitation)]))

    assert response.status_code == 302
    assert Membership.objects.get(user=frank, workspace=alice_workspace).role == "member"
    assert client.session["workspace_id"] == alice_workspace.pk
    invitation.refresh_from_db()
    assert invitation.accepted_by == frank


def test_it_asks_an_anonymous_visitor_to_sign_in_or_up_to_accept(client, alice_workspace):
    invitation = InvitationFactory(workspace=alice_workspace, email="frank@example.com")
    response = client.get(reverse("invitation_accept", args=[invitation_token(invitation)]))
    assert response.status_code == 200
    assert b"Sign in to accept" in response.content
    assert b"Create an account" in response.content


def test_it_refuses_an_invitation_meant_for_another_email(client, alice_workspace):
    invitation = InvitationFactory(workspace=alice_workspace, email="frank@example.com")
    client.force_login(UserFactory(email="mallory@example.com"))

    response = client.post(reverse("invitation_accept", args=[invitation_token(invitation)]), follow=True)

    assert b"was sent to frank@example.com" in response.content
    assert not Membership.objects.filter(workspace=alice_workspace, user__email="mallory@example.com").exists()


def test_it_refuses_an_expired_invitation(client, alice_workspace):
    invitation = InvitationFactory(
        workspace=alice_workspace, email="frank@example.com", expires_at=timezone.now() - timedelta(minutes=1)
    )
    client.force_login(UserFactory(email="frank@example.com"))
    client.post(reverse("invitation_accept", args=[invitation_token(invitation)]))
    assert not Membership.objects.filter(workspace=alice_workspace, user__email="frank@example.com").exists()


def test_it_answers_404_to_a_forged_token(client, alice_workspace):
    invitation = InvitationFactory(workspace=alice_workspace)
    token = invitation_token(invitation)
    assert client.get(reverse("invitation_accept", args=[token[:-2] + "xx"])).status_code == 404


def test_it_answers_404_to_a_token_older_than_the_maximum_age(client, alice_workspace, settings):
    invitation = InvitationFactory(workspace=alice_workspace)
    with time_machine.travel(timezone.now() - timedelta(days=settings.INVITATION_MAX_AGE_DAYS + 1)):
        token = invitation_token(invitation)
    assert client.get(reverse("invitation_accept", args=[token])).status_code == 404


def test_it_shows_pending_invitations_on_the_dashboard(client, alice_workspace, charlie):
    InvitationFactory(workspace=alice_workspace, email=charlie.email)
    client.force_login(charlie)
    response = client.get(reverse("dashboard"))
    assert b"invited you to join <strong>Alice Co</strong>" in response.content


def test_it_revokes_an_invitation(alice_client, alice_workspace):
    invitation = InvitationFactory(workspace=alice_workspace)
    alice_client.post(reverse("invitation_revoke", args=[invitation.pk]))
    assert not Invitation.objects.filter(pk=invitation.pk).exists()


def test_it_resends_an_invitation_with_a_fresh_expiry(
    alice_client, alice_workspace, django_capture_on_commit_callbacks
):
    invitation = InvitationFactory(workspace=alice_workspace, expires_at=timezone.now() + timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=True):
        alice_client.post(reverse("invitation_resend", args=[invitation.pk]))
    invitation.refresh_from_db()
    assert invitation.expires_at > timezone.now() + timedelta(days=6)
    assert len(mail.outbox) == 1


def test_it_changes_a_role(alice_client, bob, alice_workspace):
    membership = Membership.objects.get(user=bob)
    alice_client.post(reverse("membership_role", args=[membership.pk]), {"role": "admin"})
    membership.refresh_from_db()
    assert membership.role == "admin"


def test_it_does_not_let_a_member_change_roles(client, alice, bob):
    client.force_login(bob)
    membership = Membership.objects.get(user=alice)
    assert client.post(reverse("membership_role", args=[membership.pk]), {"role": "member"}).status_code == 403
    membership.refresh_from_db()
    assert membership.role == "owner"


def test_it_does_not_demote_the_last_owner(alice_client, alice):
    membership = Membership.objects.get(user=alice)
    response = alice_client.post(reverse("membership_role", args=[membership.pk]), {"role": "admin"}, follow=True)
    membership.refresh_from_db()
    assert membership.role == "owner"
    assert b"at least one owner" in response.content


def test_it_does_not_let_the_last_owner_leave(alice_client, alice, bob):
    response = alice_client.post(reverse("membership_leave"), follow=True)
    assert Membership.objects.filter(user=alice).exists()
    assert b"last owner cannot leave" in response.content


def test_it_lets_an_owner_leave_when_another_owner_remains(alice_client, alice, bob, alice_workspace):
    Membership.objects.filter(user=bob).update(role="owner")
    alice_client.post(reverse("membership_leave"))
    assert not Membership.objects.filter(user=alice, workspace=alice_workspace).exists()


def test_it_lets_a_member_leave(client, bob):
    client.force_login(bob)
    client.post(reverse("membership_leave"))
    assert not Membership.objects.filter(user=bob).exists()


def test_it_removes_a_member(alice_client, bob):
    alice_client.post(reverse("membership_remove", args=[Membership.objects.get(user=bob).pk]))
    assert not Membership.objects.filter(user=bob).exists()


def test_it_does_not_let_a_member_remove_someone(client, alice, bob):
    client.force_login(bob)
    response = client.post(reverse("membership_remove", args=[Membership.objects.get(user=alice).pk]))
    assert response.status_code == 403


def test_it_switches_to_another_workspace_of_the_user(alice_client, alice):
    other = MembershipFactory(user=alice, role="member").workspace
    alice_client.post(reverse("workspace_switch"), {"workspace": other.pk})
    assert alice_client.get(reverse("dashboard")).context["workspace"] == other


def test_it_creates_another_workspace_and_switches_to_it(alice_client, alice):
    alice_client.post(reverse("workspace_create"), {"name": "Side project", "timezone": "America/New_York"})
    workspace = alice_client.get(reverse("dashboard")).context["workspace"]
    assert (workspace.name, workspace.timezone) == ("Side project", "America/New_York")
    assert Membership.objects.get(user=alice, workspace=workspace).role == "owner"


def test_it_sends_a_user_without_a_workspace_to_create_one(client, db):
    client.force_login(UserFactory())
    response = client.get(reverse("dashboard"))
    assert response.url == reverse("workspace_create")


def test_it_updates_workspace_settings(alice_client, alice_workspace):
    alice_client.post(reverse("workspace_settings"), {"name": "Alice Corp", "timezone": "Asia/Tokyo"})
    alice_workspace.refresh_from_db()
    assert (alice_workspace.name, alice_workspace.timezone) == ("Alice Corp", "Asia/Tokyo")


def test_it_does_not_let_a_member_change_workspace_settings(client, bob, alice_workspace):
    client.force_login(bob)
    client.post(reverse("workspace_settings"), {"name": "Bob's now", "timezone": "UTC"})
    alice_workspace.refresh_from_db()
    assert alice_workspace.name == "Alice Co"


def test_it_locks_the_email_and_joins_the_workspace_when_signing_up_from_an_invitation(client, alice_workspace, alice):
    alice_workspace.timezone = "Europe/Berlin"
    alice_workspace.save()
    invitation = InvitationFactory(workspace=alice_workspace, email="frank@example.com", invited_by=alice)
    client.get(reverse("invitation_accept", args=[invitation_token(invitation)]))

    form = client.get(reverse("account_signup")).content.decode()
    assert re.search(r'<input type="email" name="email" value="frank@example.com"[^>]* disabled', form)

    response = client.post(
        reverse("account_signup"),
        {"email": "mallory@example.com", "password1": "a long and unusual passphrase 7", "password2": "a long and unusual passphrase 7"},
        follow=True,
    )
    frank = User.objects.get(email="frank@example.com")
    assert not User.objects.filter(email="mallory@example.com").exists()
    assert [m.workspace for m in Membership.objects.filter(user=frank)] == [alice_workspace]
    assert frank.timezone == "Europe/Berlin"  # no zone from the browser: the workspace's
    assert response.redirect_chain[-1][0] == "/"  # signed in at once: the invitation proved the address
    assert EmailAddress.objects.get(user=frank).verified
