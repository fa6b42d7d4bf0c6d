import json

import pytest
from django.test import Client

from campaigns.models import Campaign, CampaignExecution
from marketing.models import ApiToken
from marketing.services import api_token_create
from tests.factories import CampaignFactory, add_image


@pytest.fixture
def api(alice, alice_workspace):
    """A client that sends Alice's bearer token."""
    _, raw = api_token_create(workspace=alice_workspace, user=alice, name="tests")
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def _json(client, method, path, body=None):
    response = getattr(client, method)(path, data=json.dumps(body) if body is not None else None, content_type="application/json")
    return response.status_code, (response.json() if response.content else None)


def test_it_stores_only_a_hash_of_the_token(alice, alice_workspace):
    token, raw = api_token_create(workspace=alice_workspace, user=alice, name="ci")
    assert raw.startswith("mkt_") and raw not in token.key_hash
    assert not ApiToken.objects.filter(key_hash__contains=raw[4:]).exists()


def test_it_refuses_a_missing_or_wrong_token_with_json(db):
    status, body = _json(Client(), "get", "/api/v1/campaigns/")
    assert status in (401, 403) and "detail" in body
    status, body = _json(Client(HTTP_AUTHORIZATION="Bearer mkt_wrong"), "get", "/api/v1/campaigns/")
    assert status == 401 and body["detail"] == "Invalid or revoked API token."


def test_it_lists_and_creates_campaigns_in_the_tokens_workspace(api, alice_workspace, charlie):
    CampaignFactory(workspace=alice_workspace, name="Mine")
    CampaignFactory(workspace=charlie.memberships.get().workspace, name="Charlie's")
    status, body = _json(api, "get", "/api/v1/campaigns/")
    assert status == 200 and [c["name"] for c in body["results"]] == ["Mine"]

    status, body = _json(api, "post", "/api/v1/campaigns/", {"name": "From API", "caption": "Hi", "hashtags": "a b"})
    assert status == 201 and body["hashtags"] == "#a #b"
    assert Campaign.objects.get(name="From API").workspace == alice_workspace


def test_it_answers_400_with_the_caption_rule(api):
    status, body = _json(api, "post", "/api/v1/campaigns/", {"name": "Long", "caption": "x" * 2300})
    assert status == 400 and "Instagram allows 2,200" in body["errors"]["caption"][0]


def test_it_runs_a_campaign_with_source_api(api, alice_workspace, django_capture_on_commit_callbacks):
    campaign = CampaignFactory(workspace=alice_workspace)
    add_image(campaign)
    with django_capture_on_commit_callbacks(execute=True):
        status, body = _json(api, "post", f"/api/v1/campaigns/{campaign.pk}/run/")
    assert status == 202 and body["source"] == "api"
    execution = CampaignExecution.objects.get()
    status, body = _json(api, "get", f"/api/v1/executions/{execution.uuid}/")
    assert status == 200 and body["status"] == "succeeded" and len(body["steps"]) == 3


def test_it_schedules_through_the_same_rule_as_the_page(api, alice_workspace):
    campaign = CampaignFactory(workspace=alice_workspace)
    status, body = _json(api, "put", f"/api/v1/campaigns/{campaign.pk}/schedule/", {"kind": "recurring", "preset": "daily_0900"})
    assert status == 200 and body["campaign"]["status"] == "scheduled"
    assert body["campaign"]["schedule"]["timezone"] == "Europe/Berlin"
    status, body = _json(api, "put", f"/api/v1/campaigns/{campaign.pk}/schedule/", {"kind": "recurring", "cron": "61 * * * *"})
    assert status == 400 and body["errors"]["cron"][0].startswith("The minute “61” is not valid")


def test_it_refuses_an_illegal_transition_with_400(api, alice_workspace):
    campaign = CampaignFactory(workspace=alice_workspace, status="archived")
    status, body = _json(api, "post", f"/api/v1/campaigns/{campaign.pk}/status/", {"to": "active"})
    assert status == 400 and "cannot become active" in body["detail"]


def test_it_answers_404_for_another_workspaces_objects(api, charlie, django_capture_on_commit_callbacks):
    theirs = CampaignFactory(workspace=charlie.memberships.get().workspace)
    from campaigns.executions import execution_create

    execution = execution_create(campaign=theirs)
    for method, path in [
        ("get", f"/api/v1/campaigns/{theirs.pk}/"),
        ("patch", f"/api/v1/campaigns/{theirs.pk}/"),
        ("delete", f"/api/v1/campaigns/{theirs.pk}/"),
        ("post", f"/api/v1/campaigns/{theirs.pk}/run/"),
        ("get", f"/api/v1/campaigns/{theirs.pk}/executions/"),
        ("get", f"/api/v1/executions/{execution.uuid}/"),
    ]:
        status, _ = _json(api, method, path, {} if method in ("patch", "post") else None)
        assert status == 404, (method, path)
    assert Campaign.objects.filter(pk=theirs.pk).exists()


def test_it_refuses_a_revoked_token(alice, alice_workspace, alice_client):
    token, raw = api_token_create(workspace=alice_workspace, user=alice, name="old")
    alice_client.post(f"/workspace/api-tokens/{token.pk}/revoke/")
    status, _ = _json(Client(HTTP_AUTHORIZATION=f"Bearer {raw}"), "get", "/api/v1/campaigns/")
    assert status == 401


def test_it_stops_a_token_when_its_user_leaves_the_workspace(alice_workspace, bob, client):
    _, raw = api_token_create(workspace=alice_workspace, user=bob, name="bob's")
    bob.memberships.all().delete()
    status, _ = _json(Client(HTTP_AUTHORIZATION=f"Bearer {raw}"), "get", "/api/v1/campaigns/")
    assert status == 401


def test_it_shows_a_new_token_once_on_the_tokens_page(alice_client):
    response = alice_client.post("/workspace/api-tokens/", {"name": "Shop"})
    raw = response.context["created"]["raw"]
    assert raw.encode() in response.content
    assert raw.encode() not in alice_client.get("/workspace/api-tokens/").content


def test_it_loads_the_api_docs(alice_client):
    assert alice_client.get("/api/docs/").status_code == 200
    assert alice_client.get("/api/schema/").status_code == 200


def test_it_answers_400_with_the_first_comment_rule(api):
    status, body = _json(api, "post", "/api/v1/campaigns/", {"name": "Loud", "first_comment": "BUY NOW"})
    assert status == 400 and "capital letters" in body["errors"]["first_comment"][0]


def test_it_lists_the_workspaces_runs_newest_first_a_page_at_a_time(api, alice_workspace, charlie):
    campaign = CampaignFactory(workspace=alice_workspace)
    runs = [
        CampaignExecution.objects.create(workspace=alice_workspace, campaign=campaign, source="manual", status="succeeded")
        for _ in range(53)
    ]
    theirs = CampaignFactory(workspace=charlie.memberships.get().workspace)
    CampaignExecution.objects.create(workspace=theirs.workspace, campaign=theirs, source="manual", status="succeeded")

    status, first = _json(api, "get", "/api/v1/executions/")
    _, second = _json(api, "get", first["next"].split("testserver")[1])

    assert status == 200 and first["count"] == 53
    ids = [run["id"] for run in first["results"] + second["results"]]
    assert ids == [str(run.uuid) for run in reversed(runs)]
    assert second["next"] is None


def test_it_filters_the_runs_it_lists(api, alice_workspace):
    spring, autumn = CampaignFactory(workspace=alice_workspace), CampaignFactory(workspace=alice_workspace)
    failed = CampaignExecution.objects.create(workspace=alice_workspace, campaign=spring, source="trigger", status="failed")
    CampaignExecution.objects.create(workspace=alice_workspace, campaign=autumn, source="manual", status="succeeded")

    for query in ("status=failed", "source=trigger", f"campaign={spring.pk}"):
        _, body = _json(api, "get", f"/api/v1/executions/?{query}")
        assert [run["id"] for run in body["results"]] == [str(failed.uuid)], query
    _, later = _json(api, "get", "/api/v1/executions/?since=2999-01-01T00:00:00Z")
    assert later["results"] == []


def test_it_answers_400_or_404_for_a_bad_run_filter(api, charlie):
    theirs = CampaignFactory(workspace=charlie.memberships.get().workspace)

    assert _json(api, "get", "/api/v1/executions/?status=zzz")[0] == 400
    assert _json(api, "get", "/api/v1/executions/?since=yesterday")[0] == 400
    assert _json(api, "get", "/api/v1/executions/?campaign=-1")[0] == 400
    assert _json(api, "get", f"/api/v1/executions/?campaign={theirs.pk}")[0] == 404
    assert _json(api, "get", "/api/v1/executions/?page=garbage")[0] == 404
