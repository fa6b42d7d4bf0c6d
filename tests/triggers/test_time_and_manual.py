"""Time triggers fire once per planned time; manual triggers fire from the button and the API."""

from datetime import UTC, datetime

import time_machine

from campaigns.models import CampaignExecution
from triggers import services, tasks
from triggers.models import TriggerEvent


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# Time -------------------------------------------------------------------------------------------


def test_it_plans_the_first_fire_time_on_the_trigger_zone_clock(make_trigger):
    with time_machine.travel("2026-03-02 06:00:00Z", tick=False):
        trigger = make_trigger(kind="time", cron="0 9 * * *", timezone="America/New_York")
    assert trigger.next_fire_at == at("2026-03-02 14:00:00")


def test_it_fires_a_due_time_trigger_once_even_when_the_task_runs_twice(make_trigger):
    with time_machine.travel("2026-03-02 06:00:00Z", tick=False):
        trigger = make_trigger(kind="time", cron="0 9 * * *", timezone="UTC")
    with time_machine.travel("2026-03-02 09:00:05Z", tick=False):
        tasks.fire_due_time_triggers.delay()
        tasks.fire_due_time_triggers.delay()

    assert CampaignExecution.objects.filter(source="trigger").count() == 1
    event = TriggerEvent.objects.get()
    assert event.source == "time" and event.fired
    assert event.planned_for == at("2026-03-02 09:00:00")
    trigger.refresh_from_db()
    assert trigger.next_fire_at == at("2026-03-03 09:00:00")


def test_it_claims_a_planned_time_with_a_compare_and_set(make_trigger):
    """A worker that loaded the trigger before another one fired it finds nothing to claim."""
    with time_machine.travel("2026-03-02 06:00:00Z", tick=False):
        make_trigger(kind="time", cron="0 9 * * *", timezone="UTC")
    with time_machine.travel("2026-03-02 09:00:05Z", tick=False):
        now = datetime.now(UTC)
        assert services.time_triggers_fire_due(now=now) == 1
        assert services.time_triggers_fire_due(now=now) == 0
    assert TriggerEvent.objects.count() == 1


def test_it_fires_again_at_the_next_planned_time(make_trigger):
    with time_machine.travel("2026-03-02 06:00:00Z", tick=False):
        make_trigger(kind="time", cron="0 9 * * *", timezone="UTC")
    for moment in ["2026-03-02 09:00:30Z", "2026-03-02 09:01:00Z", "2026-03-03 09:00:10Z"]:
        with time_machine.travel(moment, tick=False):
            services.time_triggers_fire_due()
    assert list(TriggerEvent.objects.order_by("planned_for").values_list("planned_for", flat=True)) == [
        at("2026-03-02 09:00:00"),
        at("2026-03-03 09:00:00"),
    ]


def test_it_fires_a_late_trigger_once_and_does_not_replay_missed_times(make_trigger):
    with time_machine.travel("2026-03-02 06:00:00Z", tick=False):
        trigger = make_trigger(kind="time", cron="0 9 * * *", timezone="UTC")
    with time_machine.travel("2026-03-05 12:00:00Z", tick=False):
        services.time_triggers_fire_due()
        services.time_triggers_fire_due()
    assert TriggerEvent.objects.count() == 1
    trigger.refresh_from_db()
    assert trigger.next_fire_at == at("2026-03-06 09:00:00")


def test_it_does_not_fire_a_disabled_time_trigger(make_trigger):
    with time_machine.travel("2026-03-02 06:00:00Z", tick=False):
        trigger = make_trigger(kind="time", cron="0 9 * * *", timezone="UTC")
        services.trigger_set_enabled(trigger=trigger, enabled=False, by=None)
    with time_machine.travel("2026-03-02 09:00:05Z", tick=False):
        services.time_triggers_fire_due()
    assert not TriggerEvent.objects.exists()


def test_it_plans_afresh_when_a_time_trigger_is_enabled_again(make_trigger):
    with time_machine.travel("2026-03-02 06:00:00Z", tick=False):
        trigger = make_trigger(kind="time", cron="0 9 * * *", timezone="UTC", enabled=False)
    assert trigger.next_fire_at is None
    with time_machine.travel("2026-03-04 10:00:00Z", tick=False):
        services.trigger_set_enabled(trigger=trigger, enabled=True, by=None)
    assert trigger.next_fire_at == at("2026-03-05 09:00:00")


def test_it_skips_a_time_trigger_in_cooldown(make_trigger):
    with time_machine.travel("2026-03-02 08:59:00Z", tick=False):
        trigger = make_trigger(kind="time", cron="0 9 * * *", timezone="UTC", cooldown=86_400)
        trigger.last_fired_at = datetime.now(UTC)
        trigger.save(update_fields=["last_fired_at"])
    with time_machine.travel("2026-03-02 09:00:05Z", tick=False):
        services.time_triggers_fire_due()
    event = TriggerEvent.objects.get()
    assert not event.fired and event.skipped_reason == "cooldown"


# Manual -----------------------------------------------------------------------------------------


def test_it_fires_a_manual_trigger_from_the_button(alice_client, alice, make_trigger):
    trigger = make_trigger(kind="manual")
    response = alice_client.post(f"/triggers/{trigger.pk}/fire/")
    assert response.url == trigger.get_absolute_url()
    execution = CampaignExecution.objects.get()
    assert execution.source == "trigger" and execution.requested_by == alice
    event = TriggerEvent.objects.get()
    assert event.source == "manual" and event.requested_by == alice
    assert list(event.executions.all()) == [execution]


def test_it_runs_the_manual_fire_after_commit(alice_client, make_trigger, django_capture_on_commit_callbacks):
    trigger = make_trigger(kind="manual")
    with django_capture_on_commit_callbacks(execute=True):
        alice_client.post(f"/triggers/{trigger.pk}/fire/")
    assert CampaignExecution.objects.get().status == "succeeded"


def test_it_refuses_to_fire_an_event_trigger_by_hand(alice_client, make_trigger):
    trigger = make_trigger(kind="event")
    alice_client.post(f"/triggers/{trigger.pk}/fire/")
    assert not TriggerEvent.objects.exists()


def test_it_refuses_to_fire_a_disabled_manual_trigger(alice_client, make_trigger):
    trigger = make_trigger(kind="manual", enabled=False)
    alice_client.post(f"/triggers/{trigger.pk}/fire/")
    assert not CampaignExecution.objects.exists()


def test_it_fires_a_manual_trigger_through_the_api(alice_client, make_trigger):
    trigger = make_trigger(kind="manual")
    response = alice_client.post(f"/api/v1/triggers/{trigger.pk}/fire/")
    assert response.status_code == 202
    body = response.json()
    assert body["fired"] is True
    assert body["executions"] == [str(CampaignExecution.objects.get().uuid)]


def test_it_fires_a_manual_trigger_with_an_api_token(client, alice, alice_workspace, make_trigger):
    from marketing.services import api_token_create

    trigger = make_trigger(kind="manual")
    _, key = api_token_create(workspace=alice_workspace, user=alice, name="Shop")
    response = client.post(f"/api/v1/triggers/{trigger.pk}/fire/", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 202


def test_it_answers_409_from_the_api_in_cooldown(alice_client, make_trigger):
    trigger = make_trigger(kind="manual", cooldown=600)
    alice_client.post(f"/api/v1/triggers/{trigger.pk}/fire/")
    response = alice_client.post(f"/api/v1/triggers/{trigger.pk}/fire/")
    assert response.status_code == 409
    assert response.json()["skipped"] == "cooldown"


def test_it_answers_409_from_the_api_for_another_kind(alice_client, make_trigger):
    trigger = make_trigger(kind="event")
    response = alice_client.post(f"/api/v1/triggers/{trigger.pk}/fire/")
    assert response.status_code == 409
    assert response.json()["code"] == "not_manual"


def test_it_answers_401_or_403_from_the_api_without_credentials(client, make_trigger):
    trigger = make_trigger(kind="manual")
    response = client.post(f"/api/v1/triggers/{trigger.pk}/fire/")
    assert response.status_code in (401, 403)
    assert "detail" in response.json()
    assert not CampaignExecution.objects.exists()


def test_it_does_not_undo_a_cooldown_claim_when_a_stale_copy_is_saved(make_trigger):
    trigger = make_trigger(kind="manual", cooldown=600)
    stale = type(trigger).objects.get(pk=trigger.pk)
    services.trigger_fire_manual(trigger=trigger, by=None)

    services.trigger_update(trigger=stale, by=None, name="Renamed")

    stale.refresh_from_db()
    assert stale.name == "Renamed" and stale.last_fired_at is not None
    assert services.trigger_fire_manual(trigger=stale, by=None).skipped_reason == "cooldown"


def test_it_prunes_events_older_than_the_retention_but_keeps_their_runs(alice_workspace, alice, settings):
    from datetime import timedelta

    from django.utils import timezone

    from campaigns.models import CampaignExecution
    from tests.factories import CampaignFactory
    from triggers import tasks
    from triggers.models import TriggerEvent
    from triggers.services import trigger_create, trigger_fire_manual

    campaign = CampaignFactory(workspace=alice_workspace)
    trigger = trigger_create(workspace=alice_workspace, by=alice, name="Old", kind="manual", campaigns=[campaign])
    old = trigger_fire_manual(trigger=trigger, by=alice)
    TriggerEvent.objects.filter(pk=old.pk).update(received_at=timezone.now() - timedelta(days=91))
    settings.TRIGGER_EVENT_RETENTION_DAYS = 90

    assert tasks.prune_events() == 1

    assert not TriggerEvent.objects.filter(pk=old.pk).exists()
    assert CampaignExecution.objects.filter(campaign=campaign).count() == 1


def test_it_links_a_triggered_run_back_to_its_trigger(alice_client, alice_workspace, alice):
    from campaigns.models import CampaignExecution
    from tests.factories import CampaignFactory
    from triggers.services import trigger_create, trigger_fire_manual

    campaign = CampaignFactory(workspace=alice_workspace)
    trigger = trigger_create(workspace=alice_workspace, by=alice, name="Launch button", kind="manual", campaigns=[campaign])
    event = trigger_fire_manual(trigger=trigger, by=alice)
    execution = CampaignExecution.objects.get(campaign=campaign)

    response = alice_client.get(f"/campaigns/{campaign.pk}/runs/{execution.pk}/")

    assert (
        f'href="/triggers/{trigger.pk}/">Launch button</a> (event <span title="{event.uuid}">{event.uuid.hex[:8]}</span>)'
    ).encode() in response.content


def test_it_prunes_old_events_of_every_trigger_in_batches_and_keeps_the_recent_ones(alice, alice_workspace, settings):
    from datetime import timedelta

    from django.utils import timezone

    from tests.factories import CampaignFactory
    from triggers import services
    from triggers.models import TriggerEvent
    from triggers.services import trigger_create, trigger_fire_manual

    campaign = CampaignFactory(workspace=alice_workspace)
    kept, old = [], []
    for name in ("First", "Second"):
        trigger = trigger_create(workspace=alice_workspace, by=alice, name=name, kind="manual", campaigns=[campaign])
        events = [trigger_fire_manual(trigger=trigger, by=alice) for _ in range(4)]
        old += [event.uuid for event in events[:3]]
        kept.append(events[3].uuid)
    TriggerEvent.objects.filter(uuid__in=old).update(received_at=timezone.now() - timedelta(days=31))

    assert services.trigger_events_prune(older_than=timedelta(days=30), batch=2) == 6

    assert set(TriggerEvent.objects.values_list("uuid", flat=True)) == set(kept)


def test_it_searches_for_old_events_once_per_workspace_however_many_triggers_it_has(
    alice, alice_workspace, django_assert_max_num_queries
):
    from datetime import timedelta

    from marketing.services import workspace_create
    from tests.factories import CampaignFactory
    from triggers import services
    from triggers.services import trigger_create, trigger_fire_manual

    other = workspace_create(name="Other", owner=alice)
    for workspace in (alice_workspace, other):
        campaign = CampaignFactory(workspace=workspace)
        for number in range(5):
            trigger = trigger_create(workspace=workspace, by=alice, name=f"T{number}", kind="manual", campaigns=[campaign])
            trigger_fire_manual(trigger=trigger, by=alice)

    # The workspaces with triggers, then one search for old events in each.
    with django_assert_max_num_queries(3):
        assert services.trigger_events_prune(older_than=timedelta(days=30)) == 0
