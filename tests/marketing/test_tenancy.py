"""Charlie, in a workspace of his own, gets a 404 on everything of Alice's."""

from django.urls import reverse

from marketing.models import Invitation, Membership
from tests.factories import InvitationFactory


def test_it_hides_alices_memberships_from_charlie(charlie_client, alice, bob):
    for membership in Membership.objects.filter(user__in=[alice, bob]):
        assert charlie_client.post(reverse("membership_role", args=[membership.pk]), {"role": "member"}).status_code == 404
        assert charlie_client.post(reverse("membership_remove", args=[membership.pk])).status_code == 404
    assert Membership.objects.filter(workspace__name="Alice Co").count() == 2


def test_it_hides_alices_invitations_from_charlie(charlie_client, alice_workspace):
    invitation = InvitationFactory(workspace=alice_workspace)
    assert charlie_client.post(reverse("invitation_resend", args=[invitation.pk])).status_code == 404
    assert charlie_client.post(reverse("invitation_revoke", args=[invitation.pk])).status_code == 404
    assert Invitation.objects.filter(pk=invitation.pk).exists()


def test_it_does_not_let_charlie_switch_into_alices_workspace(charlie_client, alice_workspace):
    response = charlie_client.post(reverse("workspace_switch"), {"workspace": alice_workspace.pk})
    assert response.status_code == 404
    assert charlie_client.get(reverse("dashboard")).context["workspace"] != alice_workspace


def test_it_ignores_a_session_pointing_at_a_foreign_workspace(charlie_client, alice_workspace):
    session = charlie_client.session
    session["workspace_id"] = alice_workspace.pk
    session.save()
    response = charlie_client.get(reverse("member_list"))
    assert b"alice@example.com" not in response.content
    assert response.context["workspace"].name == "Charlie Inc"


def test_it_lists_only_the_current_workspaces_members(charlie_client, alice):
    response = charlie_client.get(reverse("member_list"))
    assert b"alice@example.com" not in response.content
    assert b"charlie@example.com" in response.content


def test_it_offers_only_charlies_workspaces_in_the_switcher(charlie_client, alice_workspace):
    response = charlie_client.get(reverse("dashboard"))
    assert b"Alice Co" not in response.content
