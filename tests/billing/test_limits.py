import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from billing.plans import FREE, PRO, Limit
from billing.selectors import workspace_allowance, workspace_usage
from billing.services import LimitReached, limit_check
from campaigns import executions, services as campaign_services
from campaigns.models import Campaign, CampaignExecution, ExecutionSource, ExecutionStatus
from marketing.services import api_token_create, invitation_create
from tests.billing.conftest import put_on_plan
from tests.factories import CampaignFactory, UserFactory
from triggers.services import trigger_create


def _fill_campaigns(workspace, n):
    for _ in range(n):
        CampaignFactory(workspace=workspace)


def test_it_sets_no_limits_when_billing_is_off(alice_workspace, alice):
    _fill_campaigns(alice_workspace, FREE.limit(Limit.CAMPAIGNS) + 2)
    campaign_services.campaign_create(workspace=alice_workspace, by=alice, name="One more")
    assert workspace_allowance(workspace=alice_workspace).enabled is False


def test_it_refuses_a_campaign_over_the_free_allowance(billing_on, alice_workspace, alice):
    _fill_campaigns(alice_workspace, FREE.limit(Limit.CAMPAIGNS))
    with pytest.raises(LimitReached) as refused:
        campaign_services.campaign_create(workspace=alice_workspace, by=alice, name="One too many")
    assert refused.value.limit == Limit.CAMPAIGNS and "/pricing/" in refused.value.messages[0]


def test_it_does_not_count_archived_campaigns(billing_on, alice_workspace, alice):
    _fill_campaigns(alice_workspace, FREE.limit(Limit.CAMPAIGNS))
    Campaign.objects.filter(workspace=alice_workspace).update(status="archived")
    campaign_services.campaign_create(workspace=alice_workspace, by=alice, name="Fits")


def test_it_raises_the_limit_on_a_paid_plan(billing_on, alice_workspace, alice):
    _fill_campaigns(alice_workspace, FREE.limit(Limit.CAMPAIGNS))
    put_on_plan(alice_workspace, "pro")
    campaign_services.campaign_create(workspace=alice_workspace, by=alice, name="Fits on Pro")


def test_it_refuses_on_the_page_with_an_upgrade_link(billing_on, alice_client, alice_workspace):
    _fill_campaigns(alice_workspace, FREE.limit(Limit.CAMPAIGNS))
    response = alice_client.post("/campaigns/new/", {"name": "Too many", "caption": "Hi", "hashtags": "", "fit": "none"})
    assert response.status_code == 200
    assert b"The Free plan allows 3 campaigns" in response.content and b"/pricing/" in response.content
    assert Campaign.objects.filter(workspace=alice_workspace).count() == FREE.limit(Limit.CAMPAIGNS)


def test_it_answers_402_in_the_api_naming_the_limit(billing_on, alice, alice_workspace):
    _fill_campaigns(alice_workspace, FREE.limit(Limit.CAMPAIGNS))
    _, raw = api_token_create(workspace=alice_workspace, user=alice, name="tests")
    api = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    response = api.post("/api/v1/campaigns/", data=json.dumps({"name": "Too many"}), content_type="application/json")
    assert response.status_code == 402
    body = response.json()
    assert (body["limit"], body["plan"], body["allowed"], body["used"]) == ("campaigns", "free", 3, 3)
    assert body["upgrade_url"] == "/pricing/"


def test_it_refuses_the_admin_run_action_over_the_monthly_runs(billing_on, client, alice, alice_workspace):
    alice.is_staff = alice.is_superuser = True
    alice.save()
    client.force_login(alice)
    campaign = CampaignFactory(workspace=alice_workspace)
    CampaignExecution.objects.bulk_create(
        CampaignExecution(workspace=alice_workspace, campaign=campaign, source="manual", status="succeeded")
        for _ in range(FREE.limit(Limit.RUNS_PER_MONTH))
    )
    response = client.post("/admin/campaigns/campaign/", {"action": "run_now", "_selected_action": [campaign.pk]}, follow=True)
    assert b"The Free plan allows 10 campaign runs a month" in response.content
    assert CampaignExecution.objects.filter(campaign=campaign).count() == FREE.limit(Limit.RUNS_PER_MONTH)


def test_it_keeps_what_is_over_the_limit_after_a_downgrade_and_refuses_new_ones(billing_on, alice_workspace, alice):
    put_on_plan(alice_workspace, "pro")
    _fill_campaigns(alice_workspace, 5)
    put_on_plan(alice_workspace, "free", status="")
    assert Campaign.objects.filter(workspace=alice_workspace).count() == 5
    with pytest.raises(LimitReached):
        campaign_services.campaign_create(workspace=alice_workspace, by=alice, name="New")


def test_it_refuses_an_invitation_over_the_members_limit(billing_on, alice_workspace, alice, bob):
    membership = alice.memberships.get()
    with pytest.raises(LimitReached):
        invitation_create(workspace=alice_workspace, by=membership, email="dave@example.com", role="member")


def test_it_refuses_an_active_trigger_over_the_limit(billing_on, alice_workspace, alice):
    trigger_create(workspace=alice_workspace, by=alice, name="First", kind="manual")
    with pytest.raises(LimitReached):
        trigger_create(workspace=alice_workspace, by=alice, name="Second", kind="manual")
    trigger_create(workspace=alice_workspace, by=alice, name="Off", kind="manual", enabled=False)


def test_it_skips_a_scheduled_run_over_the_allowance_with_its_reason(billing_on, alice_workspace):
    campaign = CampaignFactory(workspace=alice_workspace)
    CampaignExecution.objects.bulk_create(
        CampaignExecution(workspace=alice_workspace, campaign=campaign, source="manual", status="succeeded")
        for _ in range(FREE.limit(Limit.RUNS_PER_MONTH))
    )
    planned = CampaignExecution.objects.create(workspace=alice_workspace, campaign=campaign, source=ExecutionSource.SCHEDULE)
    executions.execution_run(execution_id=planned.pk)
    planned.refresh_from_db()
    assert planned.status == ExecutionStatus.CANCELLED
    assert planned.error_message.startswith("Skipped: The Free plan allows 10 campaign runs a month")


def test_it_holds_a_lapsed_plan_for_the_grace_period_then_falls_back(billing_on, settings, alice_workspace):
    settings.BILLING_GRACE_DAYS = 7
    put_on_plan(alice_workspace, "pro", status="canceled", lapsed_at=timezone.now() - timedelta(days=3))
    assert workspace_allowance(workspace=alice_workspace).plan == PRO
    put_on_plan(alice_workspace, "pro", status="unpaid", lapsed_at=timezone.now() - timedelta(days=8))
    allowance = workspace_allowance(workspace=alice_workspace)
    assert allowance.plan == FREE and allowance.fell_back


def test_it_reads_the_plan_without_a_query_on_a_warm_cache(billing_on, alice_workspace, django_assert_num_queries):
    put_on_plan(alice_workspace, "basic")
    workspace_allowance(workspace=alice_workspace)
    with django_assert_num_queries(0):
        allowance = workspace_allowance(workspace=alice_workspace)
    with django_assert_num_queries(1):
        usage = workspace_usage(workspace=alice_workspace, allowance=allowance)
    assert set(usage) == set(Limit.__dict__[k] for k in vars(Limit) if k.isupper())


def test_it_adds_one_query_for_the_limit_check_on_a_warm_cache(billing_on, alice_workspace, django_assert_num_queries):
    workspace_allowance(workspace=alice_workspace)
    with django_assert_num_queries(1):
        limit_check(workspace=alice_workspace, limit=Limit.CAMPAIGNS)


def test_it_says_billing_is_not_configured_on_the_billing_page(alice_client):
    response = alice_client.get("/billing/")
    assert response.status_code == 200 and b"Billing is not configured" in response.content


def test_it_renders_the_catalogue_on_the_pricing_page_without_keys(client, db):
    response = client.get("/pricing/?interval=year")
    assert response.status_code == 200
    assert b"Basic" in response.content and b"790.00" in response.content and b"Billing is not configured" in response.content


def test_it_shows_a_visitor_on_the_pricing_page_the_way_in(client, alice):
    visitor = client.get("/pricing/").content.decode()
    assert '<nav class="public-nav" aria-label="Account">' in visitor
    assert 'href="/accounts/login/">Sign in</a>' in visitor and 'href="/accounts/signup/">Sign up</a>' in visitor
    client.force_login(alice)
    signed_in = client.get("/pricing/").content.decode()
    assert "public-nav" not in signed_in and "Account menu" in signed_in


def test_it_shows_members_the_plan_read_only(billing_on, client, bob, alice_workspace):
    put_on_plan(alice_workspace, "basic")
    client.force_login(bob)
    response = client.get("/billing/")
    assert b"Basic plan" in response.content and b"Only the workspace" in response.content
    assert b"billing/portal" not in response.content


def test_it_refuses_a_campaign_added_in_the_admin_over_the_plan(billing_on, client, alice_workspace):
    client.force_login(UserFactory(email="staff@example.com", is_staff=True, is_superuser=True))
    _fill_campaigns(alice_workspace, FREE.limit(Limit.CAMPAIGNS))
    data = {
        "workspace": alice_workspace.pk,
        "name": "One too many",
        "brief": "",
        "caption": "Hi",
        "hashtags": "",
        "first_comment": "",
        "format": "post",
        **{f"{prefix}-{count}_FORMS": "0" for prefix in ("targets", "images", "executions", "status_changes") for count in ("TOTAL", "INITIAL")},
    }

    response = client.post("/admin/campaigns/campaign/add/", data)

    assert response.status_code == 200
    assert "The Free plan allows 3 campaigns" in response.content.decode()
    assert not Campaign.objects.filter(name="One too many").exists()
    assert Campaign.objects.filter(workspace=alice_workspace).count() == FREE.limit(Limit.CAMPAIGNS)
