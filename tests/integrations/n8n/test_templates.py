"""The workflow templates shipped in integrations/n8n/workflows/."""

import json

import pytest
from django.core.exceptions import ImproperlyConfigured, ValidationError

from integrations.n8n import templates
from integrations.n8n.templates import Template, template_list

ALL = template_list()


def rendered(template: Template) -> dict:
    params = {p.name: {"digits": "17841400000000", "secret": "SECRET-TOKEN-VALUE"}.get(p.kind, "https://example.com/x") for p in template.params}
    credentials = {"callback": ("cred-cb", "Callback"), "trigger": ("cred-tr", "Run token")} | {spec.key: (f"cred-{spec.key}", spec.label) for spec in template.credentials}
    return template.render(workflow_name="WF", webhook_path="mkt-alice-x-abc", params=params, credentials=credentials)


def node_named(workflow: dict, name: str) -> dict:
    return next(node for node in workflow["nodes"] if node["name"] == name)


def test_it_ships_at_least_three_templates_with_descriptions():
    assert len(ALL) >= 3
    assert {"forward-webhook", "approval-chat", "instagram-publish"} <= {t.key for t in ALL}
    assert all(len(t.description) > 40 for t in ALL)


@pytest.mark.parametrize("template", ALL, ids=lambda t: t.key)
def test_it_starts_each_template_with_a_webhook_answering_on_receipt_to_our_token_only(template):
    workflow = rendered(template)
    webhook = node_named(workflow, "Webhook")
    assert webhook["type"] == "n8n-nodes-base.webhook"
    assert webhook["parameters"] == {
        "httpMethod": "POST", "path": "mkt-alice-x-abc", "authentication": "headerAuth", "responseMode": "onReceived", "options": {},
    }  # fmt: skip
    assert webhook["credentials"] == {"httpHeaderAuth": {"id": "cred-tr", "name": "Run token"}}
    targets = {t["node"] for outputs in workflow["connections"].values() for branch in outputs["main"] for t in branch}
    assert "Webhook" not in targets


@pytest.mark.parametrize("template", ALL, ids=lambda t: t.key)
def test_it_ends_each_template_with_a_signed_callback(template):
    workflow = rendered(template)
    call_back, signer = node_named(workflow, "Call back"), node_named(workflow, "Sign callback")
    assert "Call back" not in workflow["connections"]  # nothing after it
    assert workflow["connections"]["Sign callback"]["main"] == [[{"node": "Call back", "type": "main", "index": 0}]]
    assert call_back["type"] == "n8n-nodes-base.httpRequest"
    assert call_back["parameters"]["url"] == "={{ $('Webhook').first().json.body.callback_url }}"
    assert call_back["parameters"]["headerParameters"]["parameters"] == [
        {"name": "X-Signature", "value": "=t={{ $json.t }},v1={{ $json.signature }}"}
    ]
    # The signed string is "<t>.<run id>.<the very body sent>" (marketing.webhooks.signature).
    assert call_back["parameters"]["body"] == "={{ $json.callback_body }}"
    assert signer["type"] == "n8n-nodes-base.crypto"
    assert signer["parameters"] == {
        "action": "hmac",
        "type": "SHA256",
        "value": "={{ $json.t + '.' + $('Webhook').first().json.body.execution_uuid + '.' + $json.callback_body }}",
        "dataPropertyName": "signature",
        "encoding": "hex",
    }
    for node in workflow["nodes"]:
        assignments = node["parameters"].get("assignments", {}).get("assignments", [])
        if any(a["name"] == "callback_body" for a in assignments):
            assert {"name": "t", "type": "string"}.items() <= next(a for a in assignments if a["name"] == "t").items()
    assert signer["credentials"] == {"crypto": {"id": "cred-cb", "name": "Callback"}}


@pytest.mark.parametrize("template", ALL, ids=lambda t: t.key)
def test_it_renders_each_template_without_a_placeholder_left(template):
    text = json.dumps(rendered(template))
    assert "@@" not in text
    assert set(rendered(template)) == {"name", "nodes", "connections", "settings"}


@pytest.mark.parametrize("template", ALL, ids=lambda t: t.key)
def test_it_keeps_each_templates_webhook_ids_across_reinstalls(template):
    first, second = rendered(template), rendered(template)
    assert [n.get("webhookId") for n in first["nodes"]] == [n.get("webhookId") for n in second["nodes"]]
    assert node_named(first, "Webhook")["webhookId"]


def test_it_passes_the_instagram_templates_token_through_an_n8n_credential():
    template = templates.template_get("instagram-publish")
    workflow = rendered(template)
    assert "SECRET-TOKEN-VALUE" not in json.dumps(workflow)
    assert node_named(workflow, "Publish")["credentials"] == {"facebookGraphApi": {"id": "cred-instagram", "name": "Instagram"}}


def test_it_refuses_a_template_putting_a_param_inside_an_expression(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({
        "key": "bad", "name": "Bad", "description": "d", "params": [{"name": "url", "label": "URL", "kind": "url"}],
        "workflow": {"name": "x", "nodes": [{"name": "A", "parameters": {"url": "={{ '@@PARAM:url@@' }}"}}], "connections": {}, "settings": {}},
    }))  # fmt: skip
    with pytest.raises(ImproperlyConfigured, match="inside an n8n expression"):
        templates._load(path)


@pytest.mark.parametrize("value", ["={{ $env.SECRET }}", "ftp://example.com/x", "javascript:alert(1)", "not a url"])
def test_it_refuses_anything_but_an_http_url_in_a_url_param(value):
    param = templates.Param(name="forward_url", label="URL", kind="url")
    with pytest.raises(ValidationError):
        param.validate(value)
