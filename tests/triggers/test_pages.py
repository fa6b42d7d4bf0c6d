"""The trigger pages: list, create and edit with the rule builder, detail, test box, secrets."""

import pytest
from django.urls import reverse

from campaigns.models import CampaignExecution
from triggers.models import Trigger, TriggerEvent, TriggerRejection

from .conftest import BIG_ORDER_RULES


def form_data(campaign=None, **overrides) -> dict:
    data = {
        "name": "Big orders",
        "kind": "conditional",
        "enabled": "on",
        "cooldown": "0",
        "preset": "",
        "cron": "",
        "timezone": "",
        "rules-match": "all",
        "rule-0-group": "",
        "rule-0-path": "order.total",
        "rule-0-op": "gt",
        "rule-0-value": "50",
    }
    if campaign is not None:
        data["campaigns"] = [campaign.pk]
    data.update(overrides)
    return data


def test_it_lists_the_workspace_triggers(alice_client, make_trigger):
    make_trigger(name="Big orders")
    response = alice_client.get("/triggers/")
    assert response.status_code == 200
    assert b"Big orders" in response.content


def test_it_shows_an_empty_state_without_triggers(alice_client):
    assert b"Create your first trigger" in alice_client.get("/triggers/").content


def test_it_creates_a_conditional_trigger_from_the_rule_builder(alice_client, campaign):
    data = form_data(
        campaign,
        **{
            "rule-1-group": "A",
            "rule-1-path": "customer.tier",
            "rule-1-op": "in",
            "rule-1-value": "gold, platinum",
            "rule-2-group": "A",
            "rule-2-path": "tags",
            "rule-2-op": "contains",
            "rule-2-value": "vip",
            "group-A-match": "any",
        },
    )
    response = alice_client.post("/triggers/new/", data)

    trigger = Trigger.objects.get()
    assert response.status_code == 302 and response.url == trigger.get_absolute_url()
    assert trigger.rules == {
        "match": "all",
        "rules": [
            {"path": "order.total", "op": "gt", "value": 50},
            {
                "match": "any",
                "rules": [
                    {"path": "customer.tier", "op": "in", "value": ["gold", "platinum"]},
                    {"path": "tags", "op": "contains", "value": "vip"},
                ],
            },
        ],
    }
    assert list(trigger.campaigns.all()) == [campaign]
    assert trigger.created_by.email == "alice@example.com"


def test_it_shows_rule_errors_on_their_row(alice_client, campaign):
    response = alice_client.post("/triggers/new/", form_data(campaign, **{"rule-0-op": "matches", "rule-0-value": "(?<=a)b"}))
    assert response.status_code == 200
    assert "lookahead, lookbehind" in response.content.decode()
    assert not Trigger.objects.exists()


def test_it_requires_a_rule_for_a_conditional_trigger(alice_client, campaign):
    response = alice_client.post("/triggers/new/", form_data(campaign, **{"rule-0-path": "", "rule-0-op": "", "rule-0-value": ""}))
    assert response.status_code == 200
    assert "needs at least one rule" in response.content.decode()
    assert not Trigger.objects.exists()


def test_it_adds_a_rule_row_without_javascript(alice_client, campaign):
    response = alice_client.post("/triggers/new/", {**form_data(campaign), "add_rule": "1"})
    assert response.status_code == 200
    assert b'name="rule-1-path"' in response.content
    assert b"<html" in response.content
    assert not Trigger.objects.exists()


def test_it_adds_a_rule_row_with_htmx_as_a_fragment(alice_client, campaign):
    response = alice_client.post("/triggers/new/", {**form_data(campaign), "add_rule": "1"}, headers={"HX-Request": "true"})
    content = response.content.decode()
    assert content.lstrip().startswith('<div id="rule-builder">')
    assert 'name="rule-1-path"' in content
    assert 'value="order.total"' in content
    assert not Trigger.objects.exists()


def test_it_removes_a_rule_row(alice_client, campaign):
    data = {**form_data(campaign, **{"rule-1-path": "tags", "rule-1-op": "contains", "rule-1-value": "vip"}), "remove_rule": "0"}
    response = alice_client.post("/triggers/new/", data, headers={"HX-Request": "true"})
    content = response.content.decode()
    assert 'value="tags"' in content
    assert 'value="order.total"' not in content
    assert 'name="rule-1-path"' not in content


def test_it_shows_a_group_match_once_a_row_joins_a_group(alice_client, campaign):
    data = {**form_data(campaign, **{"rule-0-group": "B"}), "refresh_rules": "1"}
    response = alice_client.post("/triggers/new/", data, headers={"HX-Request": "true"})
    assert 'name="group-B-match"' in response.content.decode()


def test_it_creates_a_time_trigger_from_a_preset(alice_client, campaign, alice_workspace):
    data = form_data(campaign, kind="time", preset="daily_0900")
    alice_client.post("/triggers/new/", data)
    trigger = Trigger.objects.get()
    assert trigger.cron == "0 9 * * *"
    assert trigger.rules == {}
    # 09:00 on the workspace's clock (Europe/Berlin) is 07:00 or 08:00 UTC.
    assert trigger.next_fire_at.hour in (7, 8) and trigger.next_fire_at.minute == 0


def test_it_refuses_a_bad_cron(alice_client, campaign):
    response = alice_client.post("/triggers/new/", form_data(campaign, kind="time", cron="every day"))
    assert "five fields" in response.content.decode()
    assert not Trigger.objects.exists()


def test_it_edits_a_trigger_and_keeps_its_rules_in_the_builder(alice_client, make_trigger, campaign):
    trigger = make_trigger(kind="conditional", rules=BIG_ORDER_RULES)
    page = alice_client.get(f"/triggers/{trigger.pk}/edit/").content.decode()
    assert 'value="order.total"' in page

    alice_client.post(f"/triggers/{trigger.pk}/edit/", form_data(campaign, name="Huge orders", **{"rule-0-value": "500"}))

    trigger.refresh_from_db()
    assert trigger.name == "Huge orders"
    assert trigger.rules["rules"][0]["value"] == 500


def test_it_ignores_campaigns_of_another_workspace_in_the_form(alice_client, charlie):
    from tests.factories import CampaignFactory

    charlies = CampaignFactory(workspace=charlie.workspaces.get())
    response = alice_client.post("/triggers/new/", form_data(charlies))
    assert response.status_code == 200
    assert not Trigger.objects.exists()


def test_it_shows_the_inbound_url_and_the_event_log(alice_client, make_trigger, settings, post_event):
    settings.PUBLIC_BASE_URL = "https://app.example.com"
    trigger = make_trigger(kind="conditional", rules=BIG_ORDER_RULES)
    post_event(trigger, {"order": {"total": 12}})

    page = alice_client.get(trigger.get_absolute_url()).content.decode()

    assert f"https://app.example.com/hooks/triggers/{trigger.token}/" in page
    assert "<code>order.total</code> was 12, needed &gt; 50" in page
    event = trigger.events.get()
    assert f'title="Event {event.uuid}">{event.uuid.hex[:8]}<' in page  # the id its sender was answered with
    assert "written in batches" not in page  # without the buffer, as written


def test_it_says_events_can_take_seconds_to_appear_when_they_are_buffered(alice_client, make_trigger, settings):
    settings.REDIS_URL, settings.TRIGGER_EVENT_BUFFER = "redis://127.0.0.1:6379/0", True
    page = alice_client.get(make_trigger().get_absolute_url()).content.decode()
    assert "they can take a few seconds to appear here" in page


def test_it_paginates_the_event_log_with_htmx(alice_client, make_trigger, post_event):
    trigger = make_trigger(campaigns=[])
    for i in range(21):
        post_event(trigger, {"n": i})
    response = alice_client.get(f"{trigger.get_absolute_url()}?page=2", headers={"HX-Request": "true"})
    content = response.content.decode()
    assert "<html" not in content
    assert "Page 2 of 2" in content


def test_it_shows_rejection_counts_on_the_trigger_page(alice_client, make_trigger, post_event):
    trigger = make_trigger()
    post_event(trigger, b"{broken")
    page = alice_client.get(trigger.get_absolute_url()).content.decode()
    assert "Not valid JSON" in page


def test_it_tests_a_payload_without_storing_or_running_anything(alice_client, make_trigger):
    trigger = make_trigger(kind="conditional", rules=BIG_ORDER_RULES)
    response = alice_client.post(
        f"/triggers/{trigger.pk}/test/", {"payload": '{"order": {"total": 80}}'}, headers={"HX-Request": "true"}
    )
    content = response.content.decode()
    assert content.lstrip().startswith('<div id="test-box">')
    assert "Matched" in content and "<code>order.total</code> was 80, &gt; 50" in content
    assert TriggerEvent.objects.count() == 0
    assert CampaignExecution.objects.count() == 0
    trigger.refresh_from_db()
    assert trigger.last_fired_at is None


def test_it_tests_a_payload_without_javascript(alice_client, make_trigger):
    trigger = make_trigger(kind="conditional", rules=BIG_ORDER_RULES)
    response = alice_client.post(f"/triggers/{trigger.pk}/test/", {"payload": '{"order": {"total": 1}}'})
    assert b"<html" in response.content
    assert "needed &gt; 50" in response.content.decode()


def test_it_says_when_the_test_payload_is_not_json(alice_client, make_trigger):
    trigger = make_trigger(kind="conditional", rules=BIG_ORDER_RULES)
    response = alice_client.post(f"/triggers/{trigger.pk}/test/", {"payload": "{nope"}, headers={"HX-Request": "true"})
    assert "not valid JSON" in response.content.decode()
    assert not TriggerRejection.objects.exists()


def test_it_shows_a_new_signing_secret_once(alice_client, make_trigger):
    trigger = make_trigger()
    response = alice_client.post(f"/triggers/{trigger.pk}/secret/")
    trigger.refresh_from_db()
    assert trigger.signing_secret.startswith("whsec_")
    assert trigger.signing_secret in response.content.decode()
    assert response["Cache-Control"] == "no-store"
    assert trigger.signing_secret not in alice_client.get(trigger.get_absolute_url()).content.decode()


def test_it_stores_the_signing_secret_encrypted(make_trigger):
    from django.db import connection

    from triggers import services

    trigger = make_trigger()
    secret = services.trigger_set_signing_secret(trigger=trigger, by=None)
    with connection.cursor() as cursor:
        cursor.execute("SELECT signing_secret FROM triggers_trigger WHERE id = %s", [trigger.pk])
        stored = cursor.fetchone()[0]
    assert secret not in stored


def test_it_removes_the_signing_secret(alice_client, make_trigger):
    trigger = make_trigger()
    alice_client.post(f"/triggers/{trigger.pk}/secret/")
    alice_client.post(f"/triggers/{trigger.pk}/secret/remove/")
    trigger.refresh_from_db()
    assert trigger.signing_secret == ""


def test_it_makes_a_new_url(alice_client, make_trigger):
    trigger = make_trigger()
    old = trigger.token
    alice_client.post(f"/triggers/{trigger.pk}/token/")
    trigger.refresh_from_db()
    assert trigger.token != old and len(trigger.token) >= 32


def test_it_disables_and_enables_a_trigger(alice_client, make_trigger):
    trigger = make_trigger()
    alice_client.post(f"/triggers/{trigger.pk}/toggle/", {"enabled": "0"})
    trigger.refresh_from_db()
    assert trigger.enabled is False
    alice_client.post(f"/triggers/{trigger.pk}/toggle/", {"enabled": "1"})
    trigger.refresh_from_db()
    assert trigger.enabled is True


def test_it_deletes_a_trigger(alice_client, make_trigger):
    trigger = make_trigger()
    assert alice_client.get(f"/triggers/{trigger.pk}/delete/").status_code == 200
    response = alice_client.post(f"/triggers/{trigger.pk}/delete/")
    assert response.url == reverse("trigger_list")
    assert not Trigger.objects.exists()


def test_it_lets_a_plain_member_manage_triggers(client, bob, make_trigger):
    client.force_login(bob)
    trigger = make_trigger()
    assert client.get(f"/triggers/{trigger.pk}/edit/").status_code == 200


@pytest.mark.parametrize("kind", ["manual", "time", "event", "conditional"])
def test_it_renders_the_detail_page_for_every_kind(alice_client, make_trigger, kind):
    fields = {"kind": kind}
    if kind == "time":
        fields["cron"] = "0 9 * * *"
    if kind == "conditional":
        fields["rules"] = BIG_ORDER_RULES
    trigger = make_trigger(**fields)
    assert alice_client.get(trigger.get_absolute_url()).status_code == 200


def test_it_ignores_unfinished_rule_rows_for_other_kinds(alice_client, campaign):
    response = alice_client.post("/triggers/new/", form_data(campaign, kind="event", **{"rule-0-op": ""}))
    assert response.status_code == 302
    assert Trigger.objects.get().rules == {}
