"""Garbage in every form and query string of the main pages gets a page or a 4xx, never a 500."""

import re
from html.parser import HTMLParser
from urllib.parse import urljoin

import pytest

from tests.factories import CampaignFactory, add_image

GARBAGE = ["", "x" * 5000, "-1", "\x00", "../../etc/passwd", "{'a':", "2026-02-30T25:61", "[]"]
# Numbers no database column holds: a key past 64 bits, a float past double.
OUT_OF_RANGE = ["99999999999999999999", "-99999999999999999999", "1e309"]
# Forms whose success ends the session or the workspace the next forms need.
ENDS_WHAT_FOLLOWS = re.compile(r"/(delete|leave|logout|remove|revoke|switch)/")


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
        "/campaigns/import/": ["text", "confirm", "idempotency_key"],
        "/campaigns/queue/": ["weekdays", "time"],
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
    for path in ["/campaigns/", "/campaigns/export.csv", "/calendar/", "/triggers/", "/instagram/", "/n8n/executions/"]:
        for key in ["page", "q", "status", "sort", "view", "date"]:
            response = alice_client.get(path, {key: value})
            assert response.status_code in (200, 400), (path, key, value)


class _PostForms(HTMLParser):
    """The page's forms that post, each with its action and the names of its fields."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, set[str]]] = []
        self._fields: set[str] | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attributes = dict(attrs)
        if tag == "form" and (attributes.get("method") or "get").lower() == "post":
            self._fields = set()
            self.forms.append((attributes.get("action") or "", self._fields))
        elif tag in ("input", "select", "textarea", "button") and self._fields is not None and attributes.get("name"):
            self._fields.add(attributes["name"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._fields = None


def test_it_survives_garbage_in_every_form_of_the_signed_in_pages(client, staff_alice, pages):
    """Every form that posts on every signed-in page (found in the page, not listed here), each of
    its fields at once given each garbage value."""
    client.force_login(staff_alice)
    client.raise_request_exception = False
    forms = set()
    for path in pages:
        parser = _PostForms()
        parser.feed(client.get(path).content.decode())
        for action, fields in parser.forms:
            target = urljoin(path, action) if action else path
            if not ENDS_WHAT_FOLLOWS.search(target):
                forms.add((target, frozenset(fields - {"csrfmiddlewaretoken"})))
    failed = []
    for target, fields in sorted(forms, key=lambda form: (form[0], sorted(form[1]))):
        for value in GARBAGE + OUT_OF_RANGE:
            status = client.post(target, dict.fromkeys(fields, value)).status_code
            if status >= 500:
                failed.append((target, sorted(fields), value[:20], status))
    assert len(forms) > 20
    assert failed == []
