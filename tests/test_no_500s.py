"""Garbage in every form and query string of the main pages gets a page or a 4xx, never a 500."""

import pytest

from tests.factories import CampaignFactory, add_image

GARBAGE = ["", "x" * 5000, "-1", "\x00", "../../etc/passwd", "{'a':", "2026-02-30T25:61", "[]"]


@pytest.fixture
def campaign(alice_workspace):
    campaign = CampaignFactory(workspace=alice_workspace)
    add_image(campaign)
    return campaign


@pytest.mark.parametrize("value", GARBAGE)
def test_it_survives_garbage_in_forms(alice_client, campaign, value):
    alice_client.raise_request_exception = False
    posts = {
        "/campaigns/new/": ["name", "caption", "hashtags", "fit", "targets"],
        f"/campaigns/{campaign.pk}/edit/": ["name", "caption", "fit", "targets"],
        f"/campaigns/{campaign.pk}/schedule/": ["kind", "run_at", "preset", "cron", "timezone", "starts_at", "ends_at", "max_runs"],
        f"/campaigns/{campaign.pk}/schedule/preview/": ["kind", "run_at", "preset", "cron", "timezone", "max_runs"],
        f"/campaigns/{campaign.pk}/status/": ["to"],
        "/members/invite/": ["email", "role"],
        "/workspaces/switch/": ["workspace"],
        "/workspace/settings/": ["name", "timezone"],
        "/account/": ["name", "timezone"],
        "/triggers/new/": ["name", "kind", "cron", "timezone", "cooldown_seconds"],
    }
    for path, fields in posts.items():
        response = alice_client.post(path, {field: value for field in fields})
        assert response.status_code < 500, (path, value)
        # The switcher answers 404 for a workspace that is not the user's; elsewhere the form exists.
        assert response.status_code != 404 or path == "/workspaces/switch/", path


@pytest.mark.parametrize("value", GARBAGE)
def test_it_survives_garbage_in_query_strings(alice_client, campaign, value):
    alice_client.raise_request_exception = False
    for path in ["/campaigns/", "/calendar/", "/triggers/", "/instagram/", "/n8n/executions/"]:
        for key in ["page", "q", "status", "sort", "view", "date"]:
            response = alice_client.get(path, {key: value})
            assert response.status_code in (200, 400), (path, key, value)
