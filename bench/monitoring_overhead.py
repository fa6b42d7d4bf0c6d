"""The campaign list with monitoring on against the same page with it off (target: at most 5% slower).

"On" is the production setting: the rollup middleware, the error and provider hooks and the
background flush thread; "off" is MONITORING_ENABLED=False. Requests take turns between the two,
so that drift hits both alike; the figure is the ratio of the medians.
"""

import random
import statistics
import time

from django.test import Client, override_settings
from django.urls import reverse

from bench import Metric, Result, get_ok, settle_database
from campaigns.models import Campaign, CampaignStatus
from marketing.models import User, Workspace
from marketing.services import workspace_create
from monitoring import recorder

MAX_RATIO = 1.05
CAMPAIGNS = 2_000


def create_data(rng: random.Random) -> tuple[User, Workspace]:
    from allauth.account.models import EmailAddress

    user = User.objects.create_user(email="monitoring-bench@example.com", password="bench-password")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    workspace = workspace_create(name="Monitoring Bench Co", owner=user)
    Campaign.objects.bulk_create(
        [
            Campaign(workspace=workspace, name=f"Campaign {i}", caption="Fresh from the workshop.",
                     status=rng.choice(CampaignStatus.values), created_by=user, updated_by=user)
            for i in range(CAMPAIGNS)
        ],
        batch_size=1000,
    )
    return user, workspace


def run(*, requests: int) -> Result:
    result = Result()
    user, workspace = create_data(random.Random(20240601))
    settle_database()
    result.say(f"data: {Campaign.objects.filter(workspace=workspace).count():,} campaigns")
    client = Client()
    client.force_login(user)
    path = reverse("campaign_list")
    samples: dict[bool, list[float]] = {True: [], False: []}
    rounds = max(requests, 2) * 2
    with override_settings(MONITORING_BACKGROUND_FLUSH=True, MONITORING_FLUSH_SECONDS=1.0):
        for enabled in (True, False) * 5:  # warm-up
            with override_settings(MONITORING_ENABLED=enabled):
                get_ok(client, path)
        for index in range(rounds):
            # Alternate which goes first, so neither always follows the other.
            for enabled in ((True, False) if index % 2 else (False, True)):
                with override_settings(MONITORING_ENABLED=enabled):
                    started = time.perf_counter()
                    get_ok(client, path)
                    samples[enabled].append((time.perf_counter() - started) * 1000)
        recorder.flush()
    on, off = statistics.median(samples[True]), statistics.median(samples[False])
    result.say(f"monitoring off: median {off:7.2f} ms ({len(samples[False])} requests)")
    result.say(f"monitoring on:  median {on:7.2f} ms ({len(samples[True])} requests)")
    result.metrics.append(Metric("monitoring_request_overhead", on / off, "x", MAX_RATIO, decimals=3))
    return result
