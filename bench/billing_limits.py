"""Queries the plan-limit check adds to creating a campaign, with the plan's cache warm."""

from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from bench import Metric, Result
from billing.models import BillingAccount
from billing.selectors import workspace_allowance
from campaigns.services import campaign_create
from marketing.models import User
from marketing.services import workspace_create

TARGET = 1


def _queries(workspace, user, name: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        campaign_create(workspace=workspace, by=user, name=name, caption="Bench")
    return len(captured.captured_queries)


def run(*, requests: int) -> Result:
    result = Result()
    user = User.objects.create_user(email="limits@bench.example", password="x")
    workspace = workspace_create(name="Limits bench", owner=user)
    BillingAccount.objects.create(workspace=workspace, plan="pro", status="active")
    without = _queries(workspace, user, "Billing off")  # no key: the check returns at once
    with override_settings(STRIPE_SECRET_KEY="sk_test_BenchKeyNotSentAnywhere0123456789"):
        workspace_allowance(workspace=workspace)  # warms the cache
        with_check = _queries(workspace, user, "Billing on")
    added = with_check - without
    result.say(f"campaign_create: {without} queries with billing off, {with_check} with the Pro plan's limit checked")
    result.metrics.append(Metric("billing_limit_check_queries", added, "queries", TARGET, decimals=0))
    return result
