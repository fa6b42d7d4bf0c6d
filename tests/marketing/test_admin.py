"""The workspace admin goes through the membership services: a workspace always keeps an owner."""

import pytest
from django.urls import reverse

from marketing.models import Membership, User
from tests.factories import UserFactory


@pytest.fixture
def staff_client(client, db):
    client.force_login(UserFactory(email="staff@example.com", is_staff=True, is_superuser=True))
    return client


def _messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def _workspace_form(workspace, memberships, **changes) -> dict:
    """The workspace change form as the admin renders it, with ``changes`` to the inline rows."""
    data = {
        "name": workspace.name,
        "slug": workspace.slug,
        "timezone": workspace.timezone,
        "publish_gap_minutes": workspace.publish_gap_minutes,
        "memberships-TOTAL_FORMS": str(len(memberships)),
        "memberships-INITIAL_FORMS": str(len(memberships)),
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
    }
    for i, membership in enumerate(memberships):
        data[f"memberships-{i}-id"] = str(membership.pk)
        data[f"memberships-{i}-workspace"] = str(workspace.pk)
        data[f"memberships-{i}-user"] = str(membership.user_id)
        data[f"memberships-{i}-role"] = membership.role
    data.update(changes)
    return data


def test_it_refuses_to_delete_the_last_owners_membership(staff_client, alice, alice_workspace):
    owner = Membership.objects.get(user=alice)

    response = staff_client.post(
        reverse("admin:marketing_membership_delete", args=[owner.pk]), {"post": "yes"}, follow=True
    )

    assert Membership.objects.filter(pk=owner.pk).exists()
    assert any("last owner" in message for message in _messages(response))


def test_it_refuses_to_bulk_delete_the_last_owners_membership(staff_client, alice, bob, alice_workspace):
    memberships = list(Membership.objects.filter(workspace=alice_workspace))

    response = staff_client.post(
        reverse("admin:marketing_membership_changelist"),
        {"action": "delete_selected", "post": "yes", "_selected_action": [m.pk for m in memberships]},
        follow=True,
    )

    assert Membership.objects.filter(workspace=alice_workspace).count() == 2
    assert any("Nothing was deleted" in message and "last owner" in message for message in _messages(response))


def test_it_deletes_a_plain_members_membership(staff_client, alice, bob, alice_workspace):
    membership = Membership.objects.get(user=bob)

    staff_client.post(reverse("admin:marketing_membership_delete", args=[membership.pk]), {"post": "yes"})

    assert not Membership.objects.filter(pk=membership.pk).exists()


def test_it_refuses_to_demote_the_last_owner(staff_client, alice, alice_workspace):
    owner = Membership.objects.get(user=alice)

    response = staff_client.post(
        reverse("admin:marketing_membership_change", args=[owner.pk]), {"role": "member"}
    )

    assert response.status_code == 200
    assert "at least one owner" in response.content.decode()
    owner.refresh_from_db()
    assert owner.role == "owner"


def test_it_does_not_move_a_membership_to_another_user(staff_client, alice, alice_workspace, charlie):
    owner = Membership.objects.get(user=alice)

    staff_client.post(
        reverse("admin:marketing_membership_change", args=[owner.pk]),
        {"role": "owner", "user": charlie.pk, "workspace": alice_workspace.pk},
    )

    owner.refresh_from_db()
    assert owner.user == alice


def test_it_refuses_to_delete_the_last_owner_in_the_workspace_inline(staff_client, alice, bob, alice_workspace):
    memberships = list(Membership.objects.filter(workspace=alice_workspace).order_by("pk"))
    owner_row = next(i for i, m in enumerate(memberships) if m.user == alice)

    response = staff_client.post(
        reverse("admin:marketing_workspace_change", args=[alice_workspace.pk]),
        _workspace_form(alice_workspace, memberships, **{f"memberships-{owner_row}-DELETE": "on"}),
    )

    assert response.status_code == 200
    assert "last owner cannot leave" in response.content.decode()
    assert Membership.objects.filter(user=alice, workspace=alice_workspace).exists()


def test_it_refuses_to_demote_the_last_owner_in_the_workspace_inline(staff_client, alice, bob, alice_workspace):
    memberships = list(Membership.objects.filter(workspace=alice_workspace).order_by("pk"))
    owner_row = next(i for i, m in enumerate(memberships) if m.user == alice)

    response = staff_client.post(
        reverse("admin:marketing_workspace_change", args=[alice_workspace.pk]),
        _workspace_form(alice_workspace, memberships, **{f"memberships-{owner_row}-role": "admin"}),
    )

    assert response.status_code == 200
    assert "at least one owner" in response.content.decode()
    assert Membership.objects.get(user=alice).role == "owner"


def test_it_hands_ownership_over_in_the_workspace_inline(staff_client, alice, bob, alice_workspace):
    memberships = list(Membership.objects.filter(workspace=alice_workspace).order_by("pk"))
    rows = {m.user.email: i for i, m in enumerate(memberships)}

    response = staff_client.post(
        reverse("admin:marketing_workspace_change", args=[alice_workspace.pk]),
        _workspace_form(
            alice_workspace,
            memberships,
            **{f"memberships-{rows['bob@example.com']}-role": "owner", f"memberships-{rows['alice@example.com']}-role": "member"},
        ),
    )

    assert response.status_code == 302
    assert dict(Membership.objects.values_list("user__email", "role")) == {
        "alice@example.com": "member",
        "bob@example.com": "owner",
    }


def test_it_adds_a_member_in_the_workspace_inline(staff_client, alice, alice_workspace, charlie):
    memberships = list(Membership.objects.filter(workspace=alice_workspace))
    data = _workspace_form(alice_workspace, memberships)
    data.update(
        {
            "memberships-TOTAL_FORMS": "2",
            "memberships-1-workspace": str(alice_workspace.pk),
            "memberships-1-user": str(charlie.pk),
            "memberships-1-role": "admin",
        }
    )

    response = staff_client.post(reverse("admin:marketing_workspace_change", args=[alice_workspace.pk]), data)

    assert response.status_code == 302
    assert Membership.objects.get(user=charlie, workspace=alice_workspace).role == "admin"


def test_it_refuses_to_delete_a_user_who_is_a_workspaces_last_owner(staff_client, alice, alice_workspace):
    response = staff_client.post(reverse("admin:marketing_user_delete", args=[alice.pk]), {"post": "yes"}, follow=True)

    assert User.objects.filter(pk=alice.pk).exists()
    assert any("last owner of Alice Co" in message for message in _messages(response))


def test_it_deletes_a_user_who_owns_nothing(staff_client, alice, bob):
    staff_client.post(reverse("admin:marketing_user_delete", args=[bob.pk]), {"post": "yes"})

    assert not User.objects.filter(pk=bob.pk).exists()
