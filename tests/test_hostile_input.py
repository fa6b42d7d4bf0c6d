"""Input classes that answered 500: each now gets a 4xx naming the field (issue: 500s from input)."""

import json

import pytest
from django.test import Client

from campaigns import recurrence
from marketing.services import api_token_create
from tests.factories import CampaignFactory, add_image
from triggers import services as trigger_services

CONTROL_CHARACTERS = ["\x00", "a\x00b"]
NEVER_FIRING_CRONS = ["0 0 30 2 *", "0 0 31 4 *", "0 0 31 2,4,6,9,11 *", "15 10 30,31 2 *"]
OUT_OF_RANGE = ["9999-12-31T23:59", "0001-01-01T00:00", "2100-01-01T00:00", "1999-12-31T23:59"]
ZONES = ["Pacific/Kiritimati", "Pacific/Pago_Pago", "UTC"]


@pytest.fixture
def api(alice, alice_workspace) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {api_token_create(workspace=alice_workspace, user=alice, name='t')[1]}")


@pytest.fixture
def campaign(alice_workspace):
    campaign = CampaignFactory(workspace=alice_workspace)
    add_image(campaign)
    return campaign


@pytest.mark.parametrize("value", CONTROL_CHARACTERS)
@pytest.mark.parametrize("param", ["q", "status", "sort"])
def test_it_refuses_a_bad_filter_by_name_in_the_campaign_list_api(api, param, value):
    response = api.get("/api/v1/campaigns/", {param: value})
    assert response.status_code == 400
    assert param in response.json()["errors"]


@pytest.mark.parametrize("cron", NEVER_FIRING_CRONS)
def test_it_refuses_a_cron_that_never_fires_beside_its_field(cron, api, alice_client, campaign, alice_workspace):
    assert "never runs" in " ".join(pytest.raises(Exception, recurrence.validate_cron, cron).value.messages)

    response = api.put(
        f"/api/v1/campaigns/{campaign.pk}/schedule/", json.dumps({"kind": "recurring", "cron": cron}), content_type="application/json"
    )
    assert response.status_code == 400 and "never runs" in json.dumps(response.json())

    form = {"kind": "recurring", "preset": "custom", "cron": cron, "timezone": "UTC"}
    page = alice_client.post(f"/campaigns/{campaign.pk}/schedule/", form)
    preview = alice_client.post(f"/campaigns/{campaign.pk}/schedule/preview/", form)
    assert page.status_code == 200 and "never runs" in page.content.decode()
    assert preview.status_code == 200 and "never runs" in preview.content.decode()

    with pytest.raises(Exception) as refused:
        trigger_services.trigger_create(workspace=alice_workspace, by=None, name="T", kind="time", cron=cron, timezone="UTC")
    assert "never runs" in " ".join(refused.value.messages)


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("moment", OUT_OF_RANGE)
@pytest.mark.parametrize("field", ["starts_at", "ends_at"])
def test_it_refuses_a_date_out_of_range_by_field_in_the_api(api, campaign, zone, moment, field):
    body = {"kind": "recurring", "cron": "0 9 * * *", "timezone": zone, field: moment}
    response = api.put(f"/api/v1/campaigns/{campaign.pk}/schedule/", json.dumps(body), content_type="application/json")
    assert response.status_code == 400
    assert field in response.json()["errors"]


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("moment", ["9999-12-31T23:59", "0001-01-01T00:00"])
def test_it_refuses_a_date_out_of_range_by_field_on_the_page(alice_client, campaign, zone, moment):
    form = {"kind": "recurring", "preset": "daily_0900", "timezone": zone, "starts_at": moment}
    for path in (f"/campaigns/{campaign.pk}/schedule/", f"/campaigns/{campaign.pk}/schedule/preview/"):
        response = alice_client.post(path, form)
        assert response.status_code == 200
        assert "between the years 2000 and 2099" in response.content.decode()


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31", "1999-12-31", "2100-01-01", "2026-02-30", "not-a-date"])
@pytest.mark.parametrize("view", ["month", "week"])
def test_it_answers_400_with_the_reason_to_a_calendar_date_out_of_range(alice_client, alice_workspace, day, view):
    response = alice_client.get("/calendar/", {"date": day, "view": view})
    assert response.status_code == 400
    assert "Date:" in response.content.decode()


def test_it_still_shows_the_month_of_a_calendar_date_in_range(alice_client, alice_workspace):
    response = alice_client.get("/calendar/", {"date": "2026-03-15"})
    assert response.status_code == 200 and "March 2026" in response.content.decode()
