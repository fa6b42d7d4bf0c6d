"""The trigger admin: lists, change pages with read-only decisions, and the actions."""

from datetime import UTC, datetime

import pytest
import time_machine

from campaigns.models import CampaignExecution
from tests.factories import CampaignFactory, UserFactory
from triggers import services
from triggers.models import Trigger, TriggerEvent

from .conftest import BIG_ORDER_RULES


@pytest.fixture
def staff_client(client, db):
    client.force_login(UserFactory(email="staff@example.com", is_staff=True, is_superuser=True))
    return client


def test_it_lists_and_shows_triggers_and_events(staff_client, make_trigger, post_event):
    trigger = make_trigger(kind="conditional", rules=BIG_ORDER_RULES)
    post_event(trigger, {"order": {"total": 3}})
    event = TriggerEvent.objects.get()

    assert staff_client.get("/admin/triggers/trigger/?q=Big").status_code == 200
    assert staff_client.get(f"/admin/triggers/trigger/{trigger.pk}/change/").status_code == 200
    assert staff_client.get("/admin/triggers/triggerevent/?matched__exact=0").status_code == 200
    page = staff_client.get(f"/admin/triggers/triggerevent/{event.pk}/change/").content.decode()
    assert "`order.total` was 3, needed &gt; 50" in page


def test_it_finds_an_event_for_staff_by_the_id_its_sender_was_answered_with(staff_client, make_trigger, post_event):
    trigger = make_trigger(kind="conditional", rules=BIG_ORDER_RULES)
    answered = post_event(trigger, {"order": {"total": 3}}).json()["event"]
    post_event(trigger, {"order": {"total": 4}})

    found = staff_client.get(f"/admin/triggers/triggerevent/?q={answered}")
    assert list(found.context["cl"].result_list) == [TriggerEvent.objects.get(uuid=answered)]
    by_name = staff_client.get("/admin/triggers/triggerevent/?q=Big")
    assert by_name.status_code == 200 and len(by_name.context["cl"].result_list) == 2


def test_it_refuses_invalid_rules_in_the_admin(staff_client, make_trigger, campaign):
    trigger = make_trigger(kind="conditional", rules=BIG_ORDER_RULES)
    response = staff_client.post(
        f"/admin/triggers/trigger/{trigger.pk}/change/",
        {
            "workspace": trigger.workspace_id,
            "name": trigger.name,
            "kind": "conditional",
            "campaigns": [campaign.pk],
            "enabled": "on",
            "cooldown": "0",
            "cron": "",
            "timezone": "",
            "rules": '{"match": "all", "rules": [{"path": "a", "op": "matches", "value": "(a)\\\\1"}]}',
            "rejections-TOTAL_FORMS": "0",
            "rejections-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200
    assert "lookahead, lookbehind" in response.content.decode()


def test_it_fires_manual_triggers_from_an_admin_action(staff_client, make_trigger):
    trigger = make_trigger(kind="manual")
    staff_client.post("/admin/triggers/trigger/", {"action": "fire_now", "_selected_action": [trigger.pk]})
    assert CampaignExecution.objects.filter(source="trigger").count() == 1


def test_it_disables_triggers_from_an_admin_action(staff_client, make_trigger):
    trigger = make_trigger()
    staff_client.post("/admin/triggers/trigger/", {"action": "disable", "_selected_action": [trigger.pk]})
    assert Trigger.objects.get().enabled is False


def test_it_saves_a_trigger_in_the_admin_without_undoing_its_last_fire(staff_client, make_trigger, campaign):
    from triggers import services

    trigger = make_trigger(kind="manual", cooldown=600)
    services.trigger_fire_manual(trigger=trigger, by=None)
    fired_at = Trigger.objects.get().last_fired_at
    response = staff_client.post(
        f"/admin/triggers/trigger/{trigger.pk}/change/",
        {
            "workspace": trigger.workspace_id,
            "name": "Renamed in the admin",
            "kind": "time",
            "campaigns": [campaign.pk],
            "enabled": "on",
            "cooldown": "600",
            "cron": "0 9 * * *",
            "timezone": "",
            "rules": "{}",
            "rejections-TOTAL_FORMS": "0",
            "rejections-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302
    saved = Trigger.objects.get()
    assert saved.name == "Renamed in the admin"
    assert saved.last_fired_at == fired_at
    assert saved.next_fire_at is not None


def _trigger_form(trigger: Trigger, **changes) -> dict:
    data = {
        "name": trigger.name,
        "kind": trigger.kind,
        "campaigns": [c.pk for c in trigger.campaigns.all()],
        "enabled": "on",
        "cooldown": str(trigger.cooldown),
        "cron": trigger.cron,
        "timezone": trigger.timezone,
        "rules": "{}",
        "rejections-TOTAL_FORMS": "0",
        "rejections-INITIAL_FORMS": "0",
    }
    data.update(changes)
    return data


def test_it_refuses_another_workspaces_campaign_with_the_services_rule(staff_client, make_trigger, charlie):
    trigger = make_trigger()
    charlies = CampaignFactory(workspace=charlie.memberships.get().workspace)

    response = staff_client.post(
        f"/admin/triggers/trigger/{trigger.pk}/change/", _trigger_form(trigger, campaigns=[charlies.pk])
    )

    assert response.status_code == 200
    assert "only starts campaigns of its own workspace" in response.content.decode()
    assert list(Trigger.objects.get().campaigns.all()) != [charlies]


def test_it_keeps_a_trigger_in_its_workspace(staff_client, make_trigger, charlie):
    trigger = make_trigger()
    charlies = charlie.memberships.get().workspace

    staff_client.post(
        f"/admin/triggers/trigger/{trigger.pk}/change/", _trigger_form(trigger, workspace=charlies.pk, name="Moved")
    )

    saved = Trigger.objects.get()
    assert (saved.name, saved.workspace_id) == ("Moved", trigger.workspace_id)


def test_it_plans_the_next_fire_when_the_admin_changes_the_cron(staff_client, make_trigger):
    trigger = make_trigger(kind="time", cron="0 9 * * *", timezone="UTC")
    with time_machine.travel(datetime(2026, 3, 2, 8, 0, tzinfo=UTC), tick=False):
        services.trigger_update(trigger=trigger, by=None, cron="0 9 * * *")
        staff_client.post(f"/admin/triggers/trigger/{trigger.pk}/change/", _trigger_form(trigger, cron="0 12 * * *"))

    assert Trigger.objects.get().next_fire_at == datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def test_it_creates_a_trigger_in_the_admin_through_the_service(staff_client, alice_workspace, campaign):
    data = {
        "workspace": alice_workspace.pk,
        "name": "From the admin",
        "kind": "event",
        "campaigns": [campaign.pk],
        "enabled": "on",
        "cooldown": "0",
        "cron": "",
        "timezone": "",
        "rules": "{}",
        "rejections-TOTAL_FORMS": "0",
        "rejections-INITIAL_FORMS": "0",
    }

    response = staff_client.post("/admin/triggers/trigger/add/", data)

    assert response.status_code == 302
    assert list(Trigger.objects.get().campaigns.all()) == [campaign]


def test_it_stops_answering_a_bulk_deleted_triggers_url_at_once(staff_client, make_trigger, post_event):
    trigger = make_trigger()
    assert post_event(trigger).status_code == 202  # the lookup is cached now

    staff_client.post(
        "/admin/triggers/trigger/", {"action": "delete_selected", "post": "yes", "_selected_action": [trigger.pk]}
    )

    assert not Trigger.objects.exists()
    assert post_event(trigger).status_code == 404
