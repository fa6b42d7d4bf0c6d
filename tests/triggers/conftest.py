import json

import pytest

from campaigns.models import Campaign
from tests.factories import CampaignFactory, add_image
from triggers import services
from triggers.models import Trigger


@pytest.fixture
def campaign(alice_workspace) -> Campaign:
    campaign = CampaignFactory(workspace=alice_workspace, name="Summer sale")
    add_image(campaign)
    return campaign


@pytest.fixture
def make_trigger(alice_workspace, campaign):
    """Creates a trigger in Alice's workspace through the service, starting ``campaign`` by default."""

    def make(**fields) -> Trigger:
        fields.setdefault("workspace", alice_workspace)
        fields.setdefault("by", None)
        fields.setdefault("name", "Big orders")
        fields.setdefault("kind", "event")
        fields.setdefault("campaigns", [campaign])
        return services.trigger_create(**fields)

    return make


def database_down(*args, **kwargs):
    """Stands in for a database call while the database cannot be reached."""
    from django.db import OperationalError

    raise OperationalError("server closed the connection unexpectedly")


BIG_ORDER_RULES = {"match": "all", "rules": [{"path": "order.total", "op": "gt", "value": 50}]}


@pytest.fixture
def post_event(client):
    """POSTs a body to a trigger's inbound URL the way an outside system would."""

    def post(trigger_or_token, body=None, *, content_type="application/json", **headers):
        token = trigger_or_token if isinstance(trigger_or_token, str) else trigger_or_token.token
        if body is None:
            body = {"order": {"total": 80}}
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        return client.post(f"/hooks/triggers/{token}/", data=data, content_type=content_type, headers=headers)

    return post
