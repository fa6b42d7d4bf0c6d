"""The API schema states the rules the services check, and no rule they do not."""

import json
import re
import zoneinfo

import pytest
from django.core.exceptions import ValidationError

from campaigns import recurrence
from integrations import fetch
from marketing.services import api_token_create
from tests.factories import CampaignFactory


@pytest.fixture
def schema(client, db):
    return json.loads(client.get("/api/schema/", HTTP_ACCEPT="application/json").content)


@pytest.fixture
def api(client, alice, alice_workspace):
    _, raw = api_token_create(workspace=alice_workspace, user=alice, name="tests")
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {raw}"
    return client


def _schedule_plan(schema: dict) -> dict:
    return schema["components"]["schemas"]["SchedulePlan"]["properties"]


def test_it_lists_exactly_the_zones_the_scheduler_accepts(schema):
    zones = schema["components"]["schemas"]["TimezoneEnum"]["enum"]
    assert sorted(zones) == sorted(zoneinfo.available_timezones())
    for name in zones:
        recurrence.zone(name)


@pytest.mark.parametrize("cron", [cron for _, cron in recurrence.PRESETS.values() if cron] + ["30 12 * * 1-5", " 0  9 1 * * "])
def test_it_documents_a_cron_pattern_every_accepted_expression_matches(schema, cron):
    pattern = _schedule_plan(schema)["cron"]["oneOf"][0]["pattern"]
    recurrence.validate_cron(cron)
    assert re.search(pattern, cron)


@pytest.mark.parametrize("cron", ["* * * *", "* * * * * *", "@daily", ""])
def test_it_documents_a_cron_pattern_that_expressions_of_another_length_miss(schema, cron):
    pattern = _schedule_plan(schema)["cron"]["oneOf"][0]["pattern"]
    assert not re.search(pattern, cron)
    with pytest.raises(ValidationError):
        recurrence.validate_cron(cron)


@pytest.mark.parametrize(("url", "documented"), [("https://shop.example/feed", True), ("http://blog.example/", True), ("ftp://files.example/feed", False), ("mailto:a@b.example", False)])
def test_it_documents_the_schemes_the_feed_fetcher_accepts(schema, settings, url, documented):
    settings.OUTBOUND_ALLOW_PRIVATE_HOSTS = True  # no name is resolved
    field = schema["components"]["schemas"]["Source"]["properties"]["url"]
    assert bool(re.search(field["pattern"], url)) is documented
    assert (fetch.check_url(url) is None) is documented


def test_it_refuses_an_unknown_zone_and_a_short_cron_with_the_services_words(api, alice_workspace):
    campaign = CampaignFactory(workspace=alice_workspace)
    path = f"/api/v1/campaigns/{campaign.pk}/schedule/"
    response = api.put(path, {"kind": "recurring", "cron": "0 9 * *", "timezone": "Europe/Berlin"}, content_type="application/json")
    assert response.status_code == 400 and "five fields" in json.dumps(response.json())
    response = api.put(path, {"kind": "recurring", "preset": "daily_0900", "timezone": "Mars/Olympus"}, content_type="application/json")
    assert response.status_code == 400 and "IANA time zone" in json.dumps(response.json()["errors"]["timezone"])
