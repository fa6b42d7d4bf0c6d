"""GET /api/v1/instagram-accounts/<id>/best-times/: the analytics page's best times to post, as JSON."""

import json
from datetime import timedelta

import pytest
import time_machine
from django.test import Client

from integrations.instagram import selectors
from integrations.instagram.models import InstagramAccount
from marketing.services import api_token_create

from .test_best_times import NOW, at, post


@pytest.fixture(autouse=True)
def _now():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def api(alice, alice_workspace) -> Client:
    """A client that sends Alice's bearer token, and no session."""
    _, raw = api_token_create(workspace=alice_workspace, user=alice, name="tests")
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def path(account: InstagramAccount, query: str = "") -> str:
    return f"/api/v1/instagram-accounts/{account.pk}/best-times/{query}"


def three_weeks_of_posts(account: InstagramAccount) -> None:
    """Tue 18:00–21:00 UTC at 10 %, Thu 09:00–12:00 UTC at 5 %, three posts each."""
    for weeks_ago in range(1, 4):
        post(account, at(1, 18, weeks_ago), reach=100, interactions=10)
        post(account, at(3, 9, weeks_ago), reach=100, interactions=5)


def test_it_answers_the_suggested_times_and_the_grid(api, account):
    three_weeks_of_posts(account)
    post(account, at(2, 7), reach=100, interactions=40)  # one post: in the grid, never suggested

    response = api.get(path(account))

    assert response.status_code == 200
    body = response.json()
    assert [(slot["label"], slot["posts"], slot["rate"], slot["level"]) for slot in body["best"]] == [
        ("Tue 18:00–21:00", 3, pytest.approx(0.1), 4), ("Thu 09:00–12:00", 3, pytest.approx(0.05), 2),
    ]
    assert [(cell["weekday"], cell["block"], cell["posts"], cell["enough"]) for cell in body["cells"]] == [
        (1, 6, 3, True), (2, 2, 1, False), (3, 3, 3, True),
    ]
    assert body["cells"][1] == {
        "weekday": 2, "block": 2, "label": "Wed 06:00–09:00", "hours": "06:00–09:00", "posts": 1, "rate": 0.4,
        "level": 4, "enough": False,
    }  # fmt: skip


def test_it_says_how_many_posts_it_used_and_still_needs(api, account):
    post(account, at(1, 18), reach=100, interactions=10)
    post(account, at(1, 18, 2), reach=None, interactions=10)  # no reach: not counted

    body = api.get(path(account)).json()

    assert (body["posts"], body["min_posts"], body["posts_needed"], body["days"]) == (
        1, selectors.BEST_TIMES_MIN_POSTS, selectors.BEST_TIMES_MIN_POSTS - 1, selectors.BEST_TIMES_DAYS,
    )
    assert body["best"] == []


def test_it_needs_no_more_posts_once_it_has_enough(api, account):
    three_weeks_of_posts(account)

    assert api.get(path(account)).json()["posts_needed"] == 0


def test_it_places_posts_in_the_token_users_own_zone(api, account, alice):
    alice.timezone = "Asia/Tokyo"
    alice.save(update_fields=["timezone"])
    post(account, at(0, 23) + timedelta(minutes=30), reach=100, interactions=5)  # Tuesday 08:30 in Tokyo

    body = api.get(path(account)).json()

    assert body["timezone"] == "Asia/Tokyo"
    assert [(cell["weekday"], cell["block"]) for cell in body["cells"]] == [(1, 2)]


def test_it_places_posts_in_the_zone_asked_for(api, account):
    post(account, at(0, 23) + timedelta(minutes=30), reach=100, interactions=5)  # Monday 18:30 in New York

    body = api.get(path(account, "?tz=America/New_York")).json()

    assert body["timezone"] == "America/New_York"
    assert [cell["label"] for cell in body["cells"]] == ["Mon 18:00–21:00"]


def test_it_refuses_an_unknown_zone_with_a_problem_document(api, account):
    response = api.get(path(account, "?tz=Mars/Olympus"))

    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert "IANA time zone" in response.json()["errors"]["tz"][0]


@pytest.mark.parametrize("zone", ["\x00", "x" * 5000, "../../etc/passwd", "utc "])
def test_it_refuses_garbage_for_a_zone_with_400(api, account, zone):
    response = api.get(path(account), {"tz": zone})

    assert (response.status_code, response.json()["status"]) == (400, 400)


def test_it_answers_404_for_another_workspaces_account(api, charlie):
    theirs = InstagramAccount.objects.create(
        workspace=charlie.memberships.get().workspace, ig_user_id="17840000000000999", username="charlies", page_id="3",
    )

    response = api.get(path(theirs))

    assert response.status_code == 404
    assert response.json()["status"] == 404


@pytest.mark.parametrize("account_id", [999999, 2**63])
def test_it_answers_404_for_an_account_that_does_not_exist(api, account_id):
    response = api.get(f"/api/v1/instagram-accounts/{account_id}/best-times/")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"


def test_it_answers_a_signed_in_browser_with_the_numbers_its_page_shows(alice_client, alice, account):
    alice.timezone = "Asia/Tokyo"
    alice.save(update_fields=["timezone"])
    three_weeks_of_posts(account)

    page = alice_client.get(f"/instagram/{account.pk}/").content.decode()
    body = alice_client.get(path(account)).json()

    labels = ", ".join(slot["label"] for slot in body["best"])
    assert labels == "Wed 03:00–06:00, Thu 18:00–21:00"  # Tuesday 18:00 UTC is Wednesday 03:00 in Tokyo
    assert f"Your posts did best on <strong>{labels}</strong>" in page
    assert body["timezone"] == "Asia/Tokyo"


def test_it_answers_without_a_token_with_a_problem_document(client, account):
    response = client.get(path(account))

    assert response.status_code in (401, 403)
    assert response["Content-Type"] == "application/problem+json"


def test_it_documents_its_answers_and_the_zone_parameter(client, db):
    schema = json.loads(client.get("/api/schema/", HTTP_ACCEPT="application/json").content)

    operation = schema["paths"]["/api/v1/instagram-accounts/{id}/best-times/"]["get"]
    [tz] = [parameter for parameter in operation["parameters"] if parameter["name"] == "tz"]

    assert {"200", "400", "404"} <= set(operation["responses"])
    assert operation["responses"]["404"]["content"]["application/problem+json"]
    assert tz["schema"]["allOf"] == [{"$ref": "#/components/schemas/TimezoneEnum"}]
    assert "Asia/Tokyo" in schema["components"]["schemas"]["TimezoneEnum"]["enum"]
