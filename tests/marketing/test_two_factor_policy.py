"""A workspace that requires two-factor authentication: its owners and admins turn it on in the
workspace settings, and a signed-in member without an authenticator app is sent to set one up
before any page of the workspace opens. Tokens, allauth's pages, account settings, signing out,
the workspace switcher and invitations stay open."""


import pytest
from allauth.mfa.models import Authenticator
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from marketing.models import Membership
from marketing.services import api_token_create, invitation_token
from tests.factories import InvitationFactory, MembershipFactory, UserFactory, WorkspaceFactory
from tests.marketing.test_mfa import _reauthenticated, _with_totp

REQUIRED = "Alice Co requires two-factor authentication: set it up to continue."
REFUSED = "Turn on two-factor authentication for your own account first."


@pytest.fixture
def required(alice_workspace):
    """Alice Co requires two-factor authentication."""
    alice_workspace.require_two_factor = True
    alice_workspace.save()
    return alice_workspace


def _settings(client, **extra):
    return client.post(reverse("workspace_settings"), {"name": "Alice Co", "timezone": "UTC", **extra})


def _messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def _asks_authenticators(queries) -> bool:
    return any("mfa_authenticator" in query["sql"] for query in queries)


def test_it_is_off_by_default_and_asks_nothing_of_a_member(client, alice_workspace, bob):
    client.force_login(bob)

    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("campaign_list"))

    assert not alice_workspace.require_two_factor
    assert response.status_code == 200
    assert not _asks_authenticators(queries)


def test_it_lets_an_owner_with_two_factor_require_it(client, alice, alice_workspace):
    _with_totp(alice)
    client.force_login(alice)

    response = _settings(client, require_two_factor="on")

    assert response.status_code == 302
    alice_workspace.refresh_from_db()
    assert alice_workspace.require_two_factor


def test_it_refuses_to_require_it_from_an_owner_without_two_factor(client, alice, alice_workspace):
    client.force_login(alice)

    response = _settings(client, require_two_factor="on")

    assert response.status_code == 200
    assert REFUSED in response.content.decode()
    alice_workspace.refresh_from_db()
    assert not alice_workspace.require_two_factor


def test_it_does_not_let_a_member_require_it(client, alice_workspace, bob):
    _with_totp(bob)
    client.force_login(bob)

    response = _settings(client, require_two_factor="on")

    assert response.status_code == 403
    alice_workspace.refresh_from_db()
    assert not alice_workspace.require_two_factor


def test_it_lets_an_owner_turn_it_off(client, alice, required):
    _with_totp(alice)
    client.force_login(alice)

    _settings(client)

    required.refresh_from_db()
    assert not required.require_two_factor


def test_it_sends_a_member_without_two_factor_to_set_it_up(client, required, bob):
    client.force_login(bob)

    response = client.get(reverse("campaign_list"))

    assert response.status_code == 302 and response["Location"] == reverse("mfa_activate_totp")
    assert _messages(response) == [REQUIRED]


def test_it_tells_htmx_to_load_the_setup_page_rather_than_swap_it_in(client, required, bob):
    client.force_login(bob)

    response = client.get(reverse("campaign_list"), headers={"HX-Request": "true"})

    assert response["HX-Redirect"] == reverse("mfa_activate_totp")


def test_it_opens_the_setup_page_to_a_member_without_two_factor(client, required, bob):
    _reauthenticated(client, bob)

    assert client.get(reverse("mfa_activate_totp")).status_code == 200


def test_it_lets_a_member_without_two_factor_sign_out(client, required, bob):
    client.force_login(bob)

    response = client.post(reverse("account_logout"))

    assert response.status_code == 302
    assert "_auth_user_id" not in client.session


def test_it_opens_account_settings_to_a_member_without_two_factor(client, required, bob):
    client.force_login(bob)

    assert client.get(reverse("account_settings")).status_code == 200


def test_it_lets_a_member_without_two_factor_switch_to_another_workspace(client, required, bob):
    other = MembershipFactory(user=bob, role="member").workspace
    client.force_login(bob)

    client.post(reverse("workspace_switch"), {"workspace": other.pk})
    response = client.get(reverse("campaign_list"))

    assert response.status_code == 200
    assert response.context["workspace"] == other


def test_it_lets_a_member_without_two_factor_accept_an_invitation(client, required, bob):
    other = WorkspaceFactory(name="Dana Ltd")
    invitation = InvitationFactory(workspace=other, email=bob.email)
    client.force_login(bob)

    response = client.post(reverse("invitation_accept", args=[invitation_token(invitation)]))

    assert response.status_code == 302
    assert Membership.objects.filter(user=bob, workspace=other).exists()


def test_it_opens_the_page_to_a_member_with_two_factor(client, required, bob):
    _with_totp(bob)
    client.force_login(bob)

    assert client.get(reverse("campaign_list")).status_code == 200


def test_it_asks_for_the_authenticator_once_and_then_trusts_the_session(client, required, bob):
    _with_totp(bob)
    client.force_login(bob)
    client.get(reverse("campaign_list"))

    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("campaign_list"))

    assert response.status_code == 200
    assert not _asks_authenticators(queries)


def test_it_sends_a_member_who_turns_two_factor_off_to_set_it_up_again(client, required, bob):
    _with_totp(bob)
    _reauthenticated(client, bob)
    assert client.get(reverse("campaign_list")).status_code == 200

    client.post(reverse("mfa_deactivate_totp"))
    response = client.get(reverse("campaign_list"))

    assert not Authenticator.objects.filter(user=bob).exists()
    assert response.status_code == 302 and response["Location"] == reverse("mfa_activate_totp")


def test_it_notices_two_factor_turned_off_in_another_session_on_the_next_page(client, required, bob):
    _with_totp(bob)
    client.force_login(bob)
    assert client.get(reverse("campaign_list")).status_code == 200
    other_session = Client()
    _reauthenticated(other_session, bob)

    other_session.post(reverse("mfa_deactivate_totp"))
    response = client.get(reverse("campaign_list"))

    assert not Authenticator.objects.filter(user=bob, type=Authenticator.Type.TOTP).exists()
    assert response.status_code == 302 and response["Location"] == reverse("mfa_activate_totp")


def test_it_notices_an_authenticator_deleted_in_the_admin_on_the_next_page(client, required, bob, staff_alice):
    _with_totp(bob)
    client.force_login(bob)
    assert client.get(reverse("campaign_list")).status_code == 200
    totp = Authenticator.objects.get(user=bob, type=Authenticator.Type.TOTP)
    admin = Client()
    admin.force_login(staff_alice)

    admin.post(reverse("admin:mfa_authenticator_delete", args=[totp.pk]), {"post": "yes"})
    response = client.get(reverse("campaign_list"))

    assert not Authenticator.objects.filter(pk=totp.pk).exists()
    assert response.status_code == 302 and response["Location"] == reverse("mfa_activate_totp")


def test_it_asks_for_authenticators_again_only_after_one_changes(client, required, bob):
    _with_totp(bob)
    client.force_login(bob)
    client.get(reverse("campaign_list"))

    with CaptureQueriesContext(connection) as unchanged:
        client.get(reverse("campaign_list"))
    Authenticator.objects.filter(user=bob, type=Authenticator.Type.RECOVERY_CODES).delete()
    with CaptureQueriesContext(connection) as changed:
        assert client.get(reverse("campaign_list")).status_code == 200

    assert not _asks_authenticators(unchanged)
    assert _asks_authenticators(changed)


def test_it_keeps_answering_a_members_api_token(required, bob):
    _, raw = api_token_create(workspace=required, user=bob, name="tests")

    response = Client(HTTP_AUTHORIZATION=f"Bearer {raw}").get("/api/v1/campaigns/")

    assert response.status_code == 200


def test_it_refuses_the_api_to_the_browser_session_of_a_member_without_two_factor(client, required, bob):
    client.force_login(bob)

    response = client.get("/api/v1/campaigns/")

    assert response.status_code == 403
    assert response.json()["detail"] == REQUIRED


def test_it_does_not_apply_another_workspaces_policy(client, alice_workspace, bob):
    other = MembershipFactory(user=bob, role="member", workspace=WorkspaceFactory(require_two_factor=True)).workspace
    client.force_login(bob)

    assert client.get(reverse("campaign_list")).context["workspace"] == alice_workspace
    client.post(reverse("workspace_switch"), {"workspace": other.pk})
    assert client.get(reverse("campaign_list"))["Location"] == reverse("mfa_activate_totp")


def test_it_shows_owners_who_has_two_factor_on_in_a_bounded_number_of_queries(
    client, alice, bob, alice_workspace, django_assert_max_num_queries
):
    _with_totp(alice)
    client.force_login(alice)
    client.get(reverse("member_list"))
    for _ in range(5):
        MembershipFactory(workspace=alice_workspace)

    # The session, the user, their memberships, whether Alice is the only owner, the members with
    # their two-factor state, the invitations: as many for 7 members as for 2.
    with django_assert_max_num_queries(6):
        page = client.get(reverse("member_list")).content.decode()

    assert "<th>Two-factor</th>" in page
    assert page.count('<span class="badge badge-success">On</span>') == 1
    assert page.count('<span class="badge">Off</span>') == 6


def test_it_hides_who_has_two_factor_from_a_plain_member(client, alice, bob):
    _with_totp(alice)
    client.force_login(bob)

    page = client.get(reverse("member_list")).content.decode()

    assert "Two-factor" not in page


def test_it_lets_a_member_leave_the_workspace_rather_than_set_two_factor_up(client, required, bob):
    _reauthenticated(client, bob)
    setup = client.get(reverse("campaign_list"), follow=True)
    assert setup.request["PATH_INFO"] == reverse("mfa_activate_totp")
    assert "Leave Alice Co" in setup.content.decode()

    response = client.post(reverse("membership_leave"), follow=True)

    assert not Membership.objects.filter(user=bob, workspace=required).exists()
    assert "You left Alice Co." in response.content.decode()


def test_it_offers_no_leaving_to_an_owner_on_the_setup_page(client, required, alice):
    _reauthenticated(client, alice)

    setup = client.get(reverse("mfa_activate_totp"))

    assert setup.status_code == 200
    assert "Leave Alice Co" not in setup.content.decode()
