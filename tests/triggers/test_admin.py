"""The trigger admin: lists, change pages with read-only decisions, and the actions."""

import pytest

from campaigns.models import CampaignExecution
from tests.factories import UserFactory
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


def test_staff_find_an_event_by_the_id_its_sender_was_answered_with(staff_client, make_trigger, post_event):
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
