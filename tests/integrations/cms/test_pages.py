import json

import pytest
from django.test import Client

from integrations.cms.models import ContentSource, SourceKind, SourceState
from marketing.services import api_token_create
from tests.integrations.cms.conftest import poll
from tests.integrations.cms.feed_server import feed_file
from tests.factories import CampaignFactory
from triggers import services as trigger_services


@pytest.fixture
def source(feed_server, make_source):
    feed_server.serve_file("/feed.xml", "rss2.xml")
    source = make_source()
    poll(source)
    return source


def test_it_lists_the_sources_with_their_state(alice_client, source):
    page = alice_client.get("/sources/").content.decode()
    assert "Acme blog" in page
    assert "Working" in page


def test_it_connects_a_feed_from_the_form(alice_client, alice_workspace, feed_server):
    url = feed_server.serve_file("/atom.xml", "atom.xml")
    response = alice_client.post(
        "/sources/new/", {"name": "Northwind", "kind": "feed", "url": url, "poll_interval": 15, "create_drafts": "on"}
    )
    source = ContentSource.objects.get(workspace=alice_workspace)
    assert response.status_code == 302 and response.url == f"/sources/{source.pk}/"
    assert (source.name, source.poll_interval, source.state) == ("Northwind", 15, SourceState.NEW)


def test_it_says_what_is_wrong_on_the_form(alice_client):
    response = alice_client.post("/sources/new/", {"name": "x", "kind": "feed", "url": "ftp://example.com/feed", "poll_interval": 1})
    assert response.status_code == 400
    assert "Enter a valid URL" in response.content.decode()


def test_it_refuses_a_source_that_does_nothing_on_the_form(alice_client, feed_server):
    response = alice_client.post("/sources/new/", {"name": "x", "kind": "feed", "url": feed_server.url("/f"), "poll_interval": 30})
    assert response.status_code == 400
    assert "Choose what a new post does" in response.content.decode()


def test_it_refuses_another_workspaces_trigger_on_the_form(alice_client, charlie, feed_server):
    theirs = trigger_services.trigger_create(workspace=charlie.memberships.get().workspace, by=None, name="Theirs", kind="event")
    response = alice_client.post(
        "/sources/new/",
        {"name": "x", "kind": "feed", "url": feed_server.url("/f"), "poll_interval": 30, "trigger": theirs.pk},
    )
    assert response.status_code == 400
    assert not ContentSource.objects.exists()


def test_it_shows_the_sites_answer_on_the_test_button(alice_client, feed_server):
    url = feed_server.serve_file("/feed.xml", "rss2.xml")
    response = alice_client.post("/sources/test/", {"kind": "feed", "url": url}, HTTP_HX_REQUEST="true")
    page = response.content.decode()
    assert "“Acme Engineering Blog” is a feed with 2 posts." in page
    assert "How we cut our build times in half" in page


def test_it_shows_why_the_test_button_failed(alice_client, feed_server):
    url = feed_server.serve("/page", feed_file("page.html"), content_type="text/html")
    page = alice_client.post("/sources/test/", {"kind": "feed", "url": url}).content.decode()
    assert "web page (HTML)" in page and "alert-error" in page


def test_it_lists_the_posts_on_the_detail_page(alice_client, source):
    page = alice_client.get(f"/sources/{source.pk}/").content.decode()
    assert "How we cut our build times in half" in page
    assert "Already there when connected" in page


def test_it_says_what_check_now_found(alice_client, source):
    response = alice_client.post(f"/sources/{source.pk}/check/", follow=True)
    assert "nothing changed since the last check" in response.content.decode()


def test_it_pauses_and_resumes(alice_client, source):
    alice_client.post(f"/sources/{source.pk}/pause/", {"paused": "1"})
    source.refresh_from_db()
    assert source.state == SourceState.PAUSED and source.next_poll_at is None
    alice_client.post(f"/sources/{source.pk}/pause/", {"paused": "0"})
    source.refresh_from_db()
    assert source.state == SourceState.OK and source.next_poll_at is not None


def test_it_keeps_the_stored_application_password_when_editing(alice_client, alice_workspace, feed_server):
    from integrations.cms import services

    source = services.source_create(
        workspace=alice_workspace, by=None, name="WP", kind=SourceKind.WORDPRESS, url=feed_server.url("/"),
        wp_username="editor", wp_app_password="abcd efgh ijkl mnop qrst uvwx",
    )  # fmt: skip
    alice_client.post(
        f"/sources/{source.pk}/edit/",
        {"name": "WP site", "url": source.url, "wp_username": "editor", "wp_app_password": "", "poll_interval": 30, "create_drafts": "on"},
    )
    source.refresh_from_db()
    assert source.name == "WP site"
    assert source.wp_app_password == "abcd efgh ijkl mnop qrst uvwx"


def test_it_stores_the_application_password_encrypted(alice_workspace, feed_server):
    from django.db import connection

    from integrations.cms import services

    source = services.source_create(
        workspace=alice_workspace, by=None, name="WP", kind=SourceKind.WORDPRESS, url=feed_server.url("/"),
        wp_username="editor", wp_app_password="secret-app-password",
    )  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("SELECT wp_app_password FROM cms_contentsource WHERE id = %s", [source.pk])
        stored = cursor.fetchone()[0]
    assert "secret-app-password" not in stored


def test_it_answers_404_for_another_workspaces_source(client, charlie, source):
    client.force_login(charlie)
    for path in (f"/sources/{source.pk}/", f"/sources/{source.pk}/edit/", f"/sources/{source.pk}/delete/"):
        assert client.get(path).status_code == 404
    assert client.post(f"/sources/{source.pk}/check/").status_code == 404


def test_it_keeps_the_campaigns_of_a_deleted_source(alice_client, source, feed_server):
    campaign = CampaignFactory(workspace=source.workspace)
    source.items.update(campaign=campaign)
    alice_client.post(f"/sources/{source.pk}/delete/")
    assert not ContentSource.objects.exists()
    campaign.refresh_from_db()


@pytest.mark.parametrize("value", ["", "x" * 5000, "-1", "\x00", "../../etc/passwd", "[]"])
def test_it_survives_garbage_in_forms(alice_client, source, value):
    alice_client.raise_request_exception = False
    fields = ["name", "kind", "url", "wp_username", "wp_app_password", "poll_interval", "trigger", "template_campaign"]
    for path in ("/sources/new/", f"/sources/{source.pk}/edit/", "/sources/test/"):
        response = alice_client.post(path, {field: value for field in fields})
        assert response.status_code < 500, (path, value)
    assert alice_client.get(f"/sources/{source.pk}/", {"page": value}).status_code == 200


# API -------------------------------------------------------------------------------------------


@pytest.fixture
def api(alice, alice_workspace):
    _, raw = api_token_create(workspace=alice_workspace, user=alice, name="tests")
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def _json(client, method, path, body=None):
    response = getattr(client, method)(path, data=json.dumps(body) if body is not None else None, content_type="application/json")
    return response.status_code, (response.json() if response.content else None)


def test_it_creates_a_source_through_the_api_and_never_shows_the_password(api, feed_server):
    status, body = _json(
        api, "post", "/api/v1/sources/",
        {"name": "WP", "kind": "wordpress", "url": feed_server.url("/"), "wp_username": "ed", "wp_app_password": "pw pw pw"},
    )  # fmt: skip
    assert status == 201, body
    assert body["has_app_password"] is True and "wp_app_password" not in body
    assert body["state"] == "new"


def test_it_answers_400_in_the_api_with_the_reason(api):
    status, body = _json(api, "post", "/api/v1/sources/", {"name": "x", "url": "https://example.com/feed", "create_drafts": False})
    assert status == 400
    assert "create_drafts" in body["errors"]


def test_it_lists_a_sources_items_in_the_api(api, source):
    status, body = _json(api, "get", f"/api/v1/sources/{source.pk}/items/")
    assert status == 200
    assert [item["title"] for item in body["results"]] == ["How we cut our build times in half", "Welcome to the new blog"]


def test_it_checks_a_source_now_through_the_api(api, source):
    status, body = _json(api, "post", f"/api/v1/sources/{source.pk}/check/")
    assert status == 200 and body["ok"] and body["not_modified"]


def test_it_patches_a_source_through_the_api(api, source):
    status, body = _json(api, "patch", f"/api/v1/sources/{source.pk}/", {"poll_interval": 60})
    assert status == 200 and body["poll_interval"] == 60


def test_it_hides_another_workspaces_source_in_the_api(charlie, source):
    _, raw = api_token_create(workspace=charlie.memberships.get().workspace, user=charlie, name="t")
    status, _ = _json(Client(HTTP_AUTHORIZATION=f"Bearer {raw}"), "get", f"/api/v1/sources/{source.pk}/")
    assert status == 404


def test_it_lists_sources_in_the_admin_without_the_password(admin_client, source):
    source.wp_app_password = "never-shown"
    source.save()
    page = admin_client.get(f"/admin/cms/contentsource/{source.pk}/change/").content.decode()
    assert "Acme blog" in page and "never-shown" not in page
    assert admin_client.get("/admin/cms/contentitem/").status_code == 200
