import os
import uuid
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from campaigns.models import CampaignComment, CampaignExecution, ExecutionStep, HashtagGroup
from integrations import http
from integrations.cms.models import ContentItem, ContentSource
from integrations.instagram.models import InsightValue, InstagramAccount
from integrations.n8n.models import N8nWorkflow
from marketing import ratelimit
from monitoring import recorder
from monitoring.models import ErrorGroup, HealthSample
from tests.factories import CampaignFactory, InvitationFactory, MembershipFactory, UserFactory, WorkspaceFactory, add_image
from triggers import services as trigger_services
from triggers.selectors import trigger_token_forget_all

pytest_plugins = ["tests.fake_openai"]


@pytest.fixture(autouse=True)
def _isolated(settings, tmp_path):
    """Each test runs tasks inline, mails to memory, and starts with an empty cache."""
    settings.CELERY_TASK_ALWAYS_EAGER = True
    # Hashing with the production hasher costs over half a second a login.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.MEDIA_ROOT = tmp_path / "media"
    # No test reaches a real outside service, whatever the developer's environment holds.
    settings.OPENAI_API_KEY = ""
    settings.OPENAI_BASE_URL = "http://127.0.0.1:9/v1"
    # Billing is off (no limits) unless a test turns on the fake Stripe (tests/billing/fake_stripe.py).
    settings.STRIPE_SECRET_KEY = ""
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    from marketing.celery import app

    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    # Circuit breakers start closed in every test, in a Redis namespace of the test's own.
    settings.OUTBOUND_HTTP = {**settings.OUTBOUND_HTTP, "breaker_namespace": f"test-{uuid.uuid4().hex}"}
    http.reset_breakers()
    cache.clear()
    trigger_token_forget_all()
    ratelimit.reset()
    # Events are written as they arrive; tests/triggers/test_event_buffer.py turns the buffer on.
    settings.TRIGGER_EVENT_BUFFER = False
    # Monitoring writes when a test calls recorder.flush(), not from a thread behind its back.
    settings.MONITORING_BACKGROUND_FLUSH = False
    settings.MONITORING_FALLBACK_EVALUATION = False
    recorder.reset()
    yield
    recorder.reset()
    cache.clear()
    http.reset_breakers()


# A local port nothing listens on: Redis "down" without touching anyone's Redis.
DEAD_REDIS_URL = "redis://127.0.0.1:1/0"


@pytest.fixture
def redis_down(_isolated, settings):
    """Points everything that uses Redis (broker, cache, rate limits, breakers, replay records) at a
    dead local port, and sends tasks to the broker instead of running them inline."""
    from django.test import override_settings

    from marketing.celery import app

    caches = {"default": {"BACKEND": "marketing.cache.RedisCache", "LOCATION": DEAD_REDIS_URL}}
    conf = {"broker_url": app.conf.broker_url, "task_always_eager": app.conf.task_always_eager}
    with override_settings(REDIS_URL=DEAD_REDIS_URL, CACHES=caches, CELERY_TASK_ALWAYS_EAGER=False):
        # Celery builds its connection pools once, from broker_url: new ones for the dead port, the old ones back after.
        pools = app._pool, app.amqp._producer_pool
        app._pool = app.amqp._producer_pool = None
        app.conf.broker_url, app.conf.task_always_eager = DEAD_REDIS_URL, False
        try:
            yield
        finally:
            app._pool, app.amqp._producer_pool = pools
            app.conf.broker_url, app.conf.task_always_eager = conf["broker_url"], conf["task_always_eager"]


@pytest.fixture
def alice_workspace(db):
    return WorkspaceFactory(name="Alice Co")


@pytest.fixture
def alice(alice_workspace):
    """Owns Alice Co."""
    user = UserFactory(email="alice@example.com")
    MembershipFactory(user=user, workspace=alice_workspace, role="owner")
    return user


@pytest.fixture
def bob(alice_workspace):
    """A plain member of Alice Co."""
    user = UserFactory(email="bob@example.com")
    MembershipFactory(user=user, workspace=alice_workspace, role="member")
    return user


@pytest.fixture
def charlie(db):
    """An outsider with a workspace of his own."""
    user = UserFactory(email="charlie@example.com")
    MembershipFactory(user=user, workspace=WorkspaceFactory(name="Charlie Inc"), role="owner")
    return user


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


@pytest.fixture
def charlie_client(client, charlie):
    client.force_login(charlie)
    return client


def pytest_configure(config):
    # Workers sharing Redis and var/ clear each other's cache, queues and rate limits mid-test.
    if os.environ.get("PYTEST_XDIST_WORKER") and not config.pluginmanager.has_plugin("tests.xdist_isolation"):
        raise pytest.UsageError('Run the tests in parallel with make test ARGS="-n 2" (tests/run.py isolates the workers).')
    # dj-stripe's migrations take over a minute (its 0002 rebuilds dozens of tables); the test
    # database gets the same tables from one generated migration instead.
    from django.conf import settings

    settings.MIGRATION_MODULES = {**getattr(settings, "MIGRATION_MODULES", {}), "djstripe": "tests.djstripe_migrations"}


@pytest.fixture
def staff_alice(alice):
    alice.is_staff = alice.is_superuser = True
    alice.save()
    return alice


@pytest.fixture
def pages(staff_alice, alice_workspace):
    """The signed-in pages, each with its data, so that the branches with tables and charts render."""
    # Approval on, and asked for: the campaign's and the dashboard's approval branches render.
    alice_workspace.require_approval = True
    alice_workspace.save(update_fields=["require_approval"])
    campaign = CampaignFactory(workspace=alice_workspace, name="Spring sale", approval_requested_at=timezone.now())
    add_image(campaign)
    hashtag_group = HashtagGroup.objects.create(workspace=alice_workspace, name="Brand", hashtags="#acme #wear")
    CampaignComment.objects.create(workspace=alice_workspace, campaign=campaign, author=staff_alice, body="Brighter?\nYes.")
    execution = CampaignExecution.objects.create(
        workspace=alice_workspace, campaign=campaign, source="schedule", status="failed", error_message="Refused"
    )
    ExecutionStep.objects.create(execution=execution, position=0, name="publish", status="failed")
    trigger = trigger_services.trigger_create(
        workspace=alice_workspace, by=None, name="Orders", kind="event", campaigns=[campaign]
    )
    InvitationFactory(workspace=alice_workspace, email="dana@example.com")
    account = InstagramAccount.objects.create(workspace=alice_workspace, ig_user_id="1", username="shop", page_id="2")
    for ago, value in ((1, 120), (40, 80)):  # this period and the one before: the summaries compare them
        InsightValue.objects.create(
            workspace=alice_workspace, account=account, object_type="account", object_id="1", metric="views",
            day=timezone.now().date() - timedelta(days=ago), value=value,
        )
    # A post published to the account, with numbers: the analytics page draws its best-times grid.
    published = CampaignExecution.objects.create(workspace=alice_workspace, campaign=campaign, source="manual", status="succeeded")
    ExecutionStep.objects.create(
        execution=published, position=1, name="publish", status="succeeded", destination="instagram", object_id=account.pk,
        external_id="m1", finished_at=timezone.now() - timedelta(days=2), state={"outputs": {"instagram_media_id": "m1"}},
    )
    for metric, value in (("reach", 100), ("total_interactions", 9)):
        InsightValue.objects.create(
            workspace=alice_workspace, account=account, object_type="media", object_id="m1",
            metric=metric, day=timezone.now().date(), value=value,
        )
    source = ContentSource.objects.create(workspace=alice_workspace, name="Acme blog", url="https://example.com/feed")
    ContentItem.objects.create(workspace=alice_workspace, source=source, guid="1", title="Hello")
    N8nWorkflow.objects.create(
        workspace=alice_workspace, template_key="instagram", name="Instagram", n8n_id="1", webhook_path="x"
    )
    frame = {"file": "campaigns/x.py", "line": 1, "function": "f", "ours": True, "code": "x = 1", "locals": {"x": "1"}}
    group = ErrorGroup.objects.create(
        fingerprint="f" * 40, category="task", title="KeyError: x", last_seen=timezone.now(),
        sample={"type": "KeyError", "message": "x", "stack": [frame]},
    )
    for ok in (True, False):
        HealthSample.objects.create(at=timezone.now() - timedelta(minutes=5), name="database", ok=ok, latency_ms=1)
    return [
        "/",
        "/campaigns/",
        "/campaigns/new/",
        f"/campaigns/{campaign.pk}/",
        f"/campaigns/{campaign.pk}/edit/",
        f"/campaigns/{campaign.pk}/schedule/",
        "/campaigns/hashtags/",
        f"/campaigns/hashtags/{hashtag_group.pk}/",
        "/campaigns/import/",
        "/campaigns/queue/",
        "/calendar/",
        "/runs/",
        "/triggers/",
        "/triggers/new/",
        f"/triggers/{trigger.pk}/",
        f"/triggers/{trigger.pk}/edit/",
        "/monitoring/",
        "/monitoring/workspace/",
        "/monitoring/status/",
        "/monitoring/errors/",
        f"/monitoring/errors/{group.pk}/",
        "/members/",
        "/instagram/",
        f"/instagram/{account.pk}/",
        "/n8n/",
        "/n8n/templates/",
        "/n8n/executions/",
        "/sources/",
        f"/sources/{source.pk}/",
        "/billing/",
        "/pricing/",
        "/workspace/settings/",
        "/workspace/api-tokens/",
        "/account/",
        "/feedback/",
        "/help/",
        "/accounts/email/",  # allauth's email change page (and its hidden form) is off: ACCOUNT_CHANGE_EMAIL
        "/accounts/password/change/",
        "/accounts/2fa/",
        "/api/docs/",
    ]
