"""GET /api/v1/destinations/: where the workspace's campaigns can publish, as keys the campaign API takes."""

import json

from integrations.cms.models import ContentSource, SourceKind
from integrations.instagram.models import AccountStatus, InstagramAccount
from integrations.n8n.models import N8nWorkflow
from tests.campaigns.test_api import _json, api  # noqa: F401 - a fixture

PATH = "/api/v1/destinations/"


def instagram(workspace, username: str, **fields) -> InstagramAccount:
    return InstagramAccount.objects.create(
        workspace=workspace, ig_user_id=f"178{username}", username=username, page_id="1", **fields
    )


def workflow(workspace, name: str) -> N8nWorkflow:
    return N8nWorkflow.objects.create(workspace=workspace, template_key=name, name=name, n8n_id=name, webhook_path=name)


def wordpress(workspace, name: str, *, password: str = "app pass") -> ContentSource:
    return ContentSource.objects.create(
        workspace=workspace, name=name, kind=SourceKind.WORDPRESS, url="https://blog.example/",
        wp_username="editor" if password else "", wp_app_password=password,
    )  # fmt: skip


def listed(client) -> list[dict]:
    status, body = _json(client, "get", PATH)
    assert status == 200, body
    return body["results"]


def test_it_lists_each_target_with_its_key_kind_and_name(api, alice_workspace):
    account = instagram(alice_workspace, "shop")
    flow = workflow(alice_workspace, "Forward to Slack")

    assert listed(api) == [
        {
            "key": f"instagram:{account.pk}", "kind": "instagram", "kind_label": "Instagram", "id": account.pk,
            "name": "@shop", "can_publish": True, "note": "",
        },
        {
            "key": f"n8n:{flow.pk}", "kind": "n8n", "kind_label": "n8n", "id": flow.pk,
            "name": "Forward to Slack", "can_publish": True, "note": "",
        },
    ]  # fmt: skip


def test_it_lists_keys_the_campaign_api_takes_as_targets(api, alice_workspace):
    instagram(alice_workspace, "shop")
    workflow(alice_workspace, "Forward")
    wordpress(alice_workspace, "Blog")
    keys = [destination["key"] for destination in listed(api)]

    status, body = _json(api, "post", "/api/v1/campaigns/", {"name": "Everywhere", "targets": keys})

    assert len(keys) == 3
    assert (status, body["targets"]) == (201, keys)


def test_it_says_an_account_to_reconnect_cannot_publish(api, alice_workspace):
    instagram(alice_workspace, "shop", status=AccountStatus.NEEDS_RECONNECT)

    [destination] = listed(api)

    assert (destination["can_publish"], destination["note"]) == (False, "needs reconnecting")


def test_it_leaves_out_what_the_campaign_form_does_not_offer(api, alice_workspace):
    instagram(alice_workspace, "gone", status=AccountStatus.DISCONNECTED)
    wordpress(alice_workspace, "No password", password="")

    assert listed(api) == []


def test_it_lists_only_the_tokens_workspace(api, charlie):
    theirs = charlie.memberships.get().workspace
    instagram(theirs, "charlies")
    workflow(theirs, "Charlie's flow")

    assert listed(api) == []


def test_it_answers_a_signed_in_browser_with_its_workspace(alice_client, alice_workspace):
    account = instagram(alice_workspace, "shop")

    assert [destination["key"] for destination in listed(alice_client)] == [f"instagram:{account.pk}"]


def test_it_answers_without_a_token_with_a_problem_document(client, db):
    response = client.get(PATH)

    assert response.status_code in (401, 403)
    assert response["Content-Type"] == "application/problem+json"


def test_it_reads_many_targets_in_a_query_or_so_per_destination(api, alice_workspace, django_assert_max_num_queries):
    for number in range(10):
        instagram(alice_workspace, f"shop{number}", status=AccountStatus.NEEDS_RECONNECT if number % 2 else AccountStatus.CONNECTED)
        workflow(alice_workspace, f"Flow {number}")
        wordpress(alice_workspace, f"Blog {number}")

    # The token and its membership (4), then one query per destination (3): with 30 targets, not 30 more.
    with django_assert_max_num_queries(7):
        assert len(listed(api)) == 30


def test_it_documents_the_list_in_the_schema(client, db):
    schema = json.loads(client.get("/api/schema/", HTTP_ACCEPT="application/json").content)

    properties = schema["components"]["schemas"]["Destination"]["properties"]

    assert set(properties) == {"key", "kind", "kind_label", "id", "name", "can_publish", "note"}
    assert "get" in schema["paths"][PATH]

