import html
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from campaigns import executions, selectors
from campaigns.models import Campaign
from campaigns.views import PAGE_SIZE
from tests.factories import CampaignFactory, add_image


def _make(workspace, count):
    campaigns = CampaignFactory.create_batch(count, workspace=workspace)
    for campaign in campaigns[::3]:
        add_image(campaign, size=(100, 100))
    for campaign in campaigns[::4]:
        executions.execution_create(campaign=campaign)
    return campaigns


def _queries(client, path="/campaigns/") -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(path).status_code == 200
    return len(captured)


def test_it_keeps_the_list_query_count_the_same_from_5_to_200_campaigns(alice_client, alice_workspace):
    alice_client.get("/")  # the first request stores the current workspace in the session
    _make(alice_workspace, 5)
    few = _queries(alice_client)
    _make(alice_workspace, 195)
    many = _queries(alice_client)
    assert few == many
    assert many <= 10


def test_it_searches_name_and_caption(alice_client, alice_workspace):
    CampaignFactory(workspace=alice_workspace, name="Winter boots", caption="warm")
    CampaignFactory(workspace=alice_workspace, name="Other", caption="Boots for summer")
    CampaignFactory(workspace=alice_workspace, name="Unrelated", caption="hats")
    response = alice_client.get("/campaigns/?q=boots")
    assert [c.name for c in response.context["page"].campaigns] == ["Other", "Winter boots"]


def test_it_filters_by_status_and_hides_archived_by_default(alice_client, alice_workspace):
    CampaignFactory(workspace=alice_workspace, name="Live", status="active")
    CampaignFactory(workspace=alice_workspace, name="Old", status="archived")
    names = lambda path: {c.name for c in alice_client.get(path).context["page"].campaigns}  # noqa: E731
    assert names("/campaigns/") == {"Live"}
    assert names("/campaigns/?status=archived") == {"Old"}
    assert names("/campaigns/?status=all") == {"Live", "Old"}


def test_it_sorts_by_name(alice_client, alice_workspace):
    for name in ["b", "c", "a"]:
        CampaignFactory(workspace=alice_workspace, name=name)
    response = alice_client.get("/campaigns/?sort=name")
    assert [c.name for c in response.context["page"].campaigns] == ["a", "b", "c"]


def test_it_paginates_with_plain_links_and_keeps_the_filters(alice_client, alice_workspace):
    CampaignFactory.create_batch(30, workspace=alice_workspace, caption="shoe")
    response = alice_client.get("/campaigns/?q=shoe&page=2")
    assert len(response.context["page"].campaigns) == 5
    assert b'href="?q=shoe&page=1"' in response.content


def test_it_answers_htmx_with_just_the_results(alice_client, alice_workspace):
    CampaignFactory(workspace=alice_workspace, name="Only")
    response = alice_client.get("/campaigns/?q=Only", HTTP_HX_REQUEST="true")
    assert b"<html" not in response.content
    assert b"Only" in response.content


def test_it_shows_an_empty_state_that_leads_to_creating_one(alice_client):
    response = alice_client.get("/campaigns/")
    assert b"Create your first campaign" in response.content


@pytest.mark.parametrize("page", ["abc", "-1", "99999"])
def test_it_survives_a_bad_page_number(alice_client, alice_workspace, page):
    CampaignFactory(workspace=alice_workspace)
    assert alice_client.get(f"/campaigns/?page={page}").status_code == 200


def test_it_duplicates_a_campaign_with_its_images(alice_client, alice_workspace):
    original = CampaignFactory(workspace=alice_workspace, name="Original")
    add_image(original)
    response = alice_client.post(f"/campaigns/{original.pk}/duplicate/")
    copy = Campaign.objects.exclude(pk=original.pk).get()
    assert response.url == f"/campaigns/{copy.pk}/edit/"
    assert (copy.name, copy.status, copy.images.count()) == ("Copy of Original", "draft", 1)
    assert copy.images.get().file.name != original.images.get().file.name


def test_it_deletes_after_confirmation(alice_client, alice_workspace, django_capture_on_commit_callbacks):
    campaign = CampaignFactory(workspace=alice_workspace)
    image = add_image(campaign)
    storage, path = image.file.storage, image.file.name
    assert b"Delete for good" in alice_client.get(f"/campaigns/{campaign.pk}/delete/").content
    with django_capture_on_commit_callbacks(execute=True):
        alice_client.post(f"/campaigns/{campaign.pk}/delete/")
    assert not Campaign.objects.exists()
    assert not storage.exists(path)


def test_it_archives_and_restores(alice_client, alice_workspace):
    campaign = CampaignFactory(workspace=alice_workspace)
    alice_client.post(f"/campaigns/{campaign.pk}/status/", {"to": "archived"})
    campaign.refresh_from_db()
    assert campaign.status == "archived"
    alice_client.post(f"/campaigns/{campaign.pk}/status/", {"to": "draft"})
    campaign.refresh_from_db()
    assert campaign.status == "draft"


def test_it_escapes_names_and_captions_in_the_rows(alice_client, alice_workspace):
    CampaignFactory(workspace=alice_workspace, name="<script>alert(1)</script>", caption='"><img src=x onerror=alert(1)>')
    content = alice_client.get("/campaigns/").content
    assert b"<script>alert(1)</script>" not in content
    assert b"&lt;script&gt;alert(1)&lt;/script&gt;" in content
    assert b'"><img src=x' not in content


def test_it_shows_the_right_rows_on_a_deep_page_in_order_with_their_runs_and_images(alice_workspace):
    from campaigns.selectors import campaign_page

    # Made in reverse, so that the ids' order is not the names'.
    campaigns = {i: CampaignFactory(workspace=alice_workspace, name=f"c{i:02}") for i in reversed(range(12))}
    add_image(campaigns[6], size=(100, 100))
    execution = executions.execution_create(campaign=campaigns[7])

    page = campaign_page(workspace=alice_workspace, page=2, size=5, sort="name")

    assert [c.name for c in page.campaigns] == ["c05", "c06", "c07", "c08", "c09"]
    assert page.has_next and page.has_previous
    by_name = {c.name: c for c in page.campaigns}
    assert by_name["c06"].first_image_id == campaigns[6].images.get().pk
    assert by_name["c07"].last_run_status == execution.status
    assert by_name["c05"].first_image_id is None and by_name["c05"].last_run_status is None
    last = campaign_page(workspace=alice_workspace, page=3, size=5, sort="name")
    assert [c.name for c in last.campaigns] == ["c10", "c11"] and not last.has_next


def test_it_lets_the_search_use_the_trigram_indexes_on_postgresql(alice_workspace):
    from django.db.models import Q

    if connection.vendor != "postgresql":
        pytest.skip("trigram indexes are PostgreSQL's")
    CampaignFactory.create_batch(3, workspace=alice_workspace)
    # The search's own condition (campaign_list's), without the workspace's index to choose instead.
    searched = Campaign.objects.filter(Q(name__icontains="linen") | Q(caption__icontains="linen"))
    with connection.cursor() as cursor:
        # Tiny tables are read whole whatever the indexes; this asks whether the indexes fit the query.
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = searched.explain()
    assert "campaign_name_search_trgm" in plan and "campaign_caption_search_trgm" in plan


# Keyset pagination: the list's links carry a cursor, so that a page is read from where the last
# one ended, along an index, at any depth.


def _link(content: bytes, label: str) -> str | None:
    """The page link's address, as the browser reads it from the attribute."""
    found = re.search(rf'<a class="btn btn-sm" href="(\?[^"]*)"[^>]*>[^<]*{label}', content.decode())
    return found and html.unescape(found.group(1))


def _walk(client, path: str, label: str) -> list[list[str]]:
    """The names on each page, following the ``label`` link from ``path`` until there is none."""
    pages = []
    while path is not None:
        response = client.get(f"/campaigns/{path}")
        assert response.status_code == 200
        pages.append([c.name for c in response.context["page"].campaigns])
        path = _link(response.content, label)
    return pages


def test_it_lists_a_page_in_at_most_4_queries(alice_client, alice_workspace, django_assert_max_num_queries):
    alice_client.get("/")  # the first request stores the current workspace in the session
    _make(alice_workspace, 60)
    next_link = _link(alice_client.get("/campaigns/").content, "Next")
    for path in ["", next_link, "?q=campaign", "?status=draft", "?sort=name", "?page=2"]:
        with django_assert_max_num_queries(4):
            assert alice_client.get(f"/campaigns/{path}").status_code == 200


def test_it_walks_to_the_last_page_with_next_links_and_back_with_previous_links(alice_client, alice_workspace):
    for i in range(60):
        CampaignFactory(workspace=alice_workspace, name=f"c{i:02}")
    forward = _walk(alice_client, "?sort=name", "Next")
    assert forward == [[f"c{i:02}" for i in range(start, min(start + PAGE_SIZE, 60))] for start in (0, 25, 50)]

    last = alice_client.get(f"/campaigns/{_link(alice_client.get('/campaigns/?sort=name').content, 'Next')}")
    last = alice_client.get(f"/campaigns/{_link(last.content, 'Next')}")
    assert b"Page 3" in last.content and _link(last.content, "Next") is None
    assert "after=" in last.wsgi_request.get_full_path()
    backward = _walk(alice_client, _link(last.content, "Previous"), "Previous")
    assert backward == forward[1::-1]


def test_it_links_page_2_back_to_the_first_page_itself(alice_client, alice_workspace):
    CampaignFactory.create_batch(30, workspace=alice_workspace)
    second = alice_client.get(f"/campaigns/{_link(alice_client.get('/campaigns/?q=campaign').content, 'Next')}")
    assert _link(second.content, "Previous") == "?q=campaign&page=1"


@pytest.mark.parametrize("sort", ["updated", "created", "name", "status"])
def test_it_pages_every_sort_through_ties_without_losing_or_repeating_a_campaign(alice_client, alice_workspace, sort):
    campaigns = CampaignFactory.create_batch(70, workspace=alice_workspace)
    # Ties on every sorted column: the id decides among them, in both directions.
    Campaign.objects.filter(pk__in=[c.pk for c in campaigns[::2]]).update(name="Same", status="active")
    Campaign.objects.filter(pk__in=[c.pk for c in campaigns[:40]]).update(
        updated_at=timezone.now(), created_at=timezone.now() - timedelta(days=1)
    )
    expected = [c.name + str(c.pk) for c in selectors.campaign_list(workspace=alice_workspace, sort=sort)]

    def walk(path, label):
        names = []
        while path is not None:
            response = alice_client.get(f"/campaigns/{path}")
            names.append([c.name + str(c.pk) for c in response.context["page"].campaigns])
            path = _link(response.content, label)
        return names

    forward = walk(f"?sort={sort}", "Next")
    assert [name for page in forward for name in page] == expected
    last_path = f"?sort={sort}"
    for _ in range(2):
        last_path = _link(alice_client.get(f"/campaigns/{last_path}").content, "Next")
    backward = walk(_link(alice_client.get(f"/campaigns/{last_path}").content, "Previous"), "Previous")
    assert backward == forward[1::-1]


def test_it_keeps_search_and_status_filter_across_cursor_pages(alice_client, alice_workspace):
    CampaignFactory.create_batch(30, workspace=alice_workspace, name="Boots", status="active")
    CampaignFactory.create_batch(30, workspace=alice_workspace, name="Boots", status="paused")
    CampaignFactory.create_batch(30, workspace=alice_workspace, name="Hats", status="active")
    pages = _walk(alice_client, "?q=boot&status=active", "Next")
    assert [len(page) for page in pages] == [25, 5]
    second = alice_client.get(f"/campaigns/{_link(alice_client.get('/campaigns/?q=boot&status=active').content, 'Next')}")
    assert {(c.name, c.status) for c in second.context["page"].campaigns} == {("Boots", "active")}
    assert _link(second.content, "Previous") == "?q=boot&status=active&page=1"


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "%00",
        "W10",  # []
        "WyJ1cGRhdGVkIiwgIm5vdCBhIGRhdGUiLCAxXQ",  # ["updated", "not a date", 1]
        "WyJ1cGRhdGVkIiwgIjIwMjYtMDEtMDFUMDA6MDA6MDAiLCAxXQ",  # a time without a zone
        "WyJuYW1lIiwgImEiLCAxXQ",  # ["name", "a", 1]: made for another sort
        "WyJ1cGRhdGVkIiwgIjIwMjYtMDEtMDFUMDA6MDA6MDArMDA6MDAiLCAiMSJd",  # an id that is a string
        "x" * 5000,
    ],
)
@pytest.mark.parametrize("direction", ["after", "before"])
def test_it_shows_the_page_by_its_number_for_a_bad_cursor(alice_client, alice_workspace, cursor, direction):
    CampaignFactory.create_batch(30, workspace=alice_workspace)
    response = alice_client.get(f"/campaigns/?page=2&{direction}={cursor}")
    assert response.status_code == 200
    assert len(response.context["page"].campaigns) == 5


@pytest.mark.parametrize(
    "query",
    [
        "sort=name&after=WyJuYW1lIiwgImFcdTAwMDBiIiwgMV0",  # ["name", "a\x00b", 1]
        "after=WyJ1cGRhdGVkIiwgIjIwMjYtMDEtMDFUMDA6MDA6MDArMDA6MDAiLCAxMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwXQ",  # id 10**30
        "before=WyJ1cGRhdGVkIiwgIjIwMjYtMDEtMDFUMDA6MDA6MDArMDA6MDAiLCAtNV0",  # id -5
    ],
)
def test_it_ignores_a_cursor_the_database_would_refuse(alice_client, alice_workspace, query):
    CampaignFactory.create_batch(30, workspace=alice_workspace)
    response = alice_client.get(f"/campaigns/?page=2&{query}")
    assert response.status_code == 200
    assert len(response.context["page"].campaigns) == 5


def test_it_pages_a_cursor_through_the_current_workspace_only(alice_client, alice_workspace):
    CampaignFactory.create_batch(30, workspace=alice_workspace, name="Alice's")
    CampaignFactory.create_batch(30, name="Someone else's")
    pages = _walk(alice_client, "", "Next")
    assert {name for page in pages for name in page} == {"Alice's"} and len(pages) == 2


def test_it_reads_a_cursor_page_along_the_index_on_postgresql(alice_workspace):
    if connection.vendor != "postgresql":
        pytest.skip("the plan is PostgreSQL's")
    CampaignFactory.create_batch(30, workspace=alice_workspace)
    first = selectors.campaign_page(workspace=alice_workspace, page=1, size=10)
    with CaptureQueriesContext(connection) as captured:
        selectors.campaign_page(workspace=alice_workspace, page=2, size=10, after=first.next_cursor)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {captured.captured_queries[0]['sql']}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
    # Started at the cursor in the index and stopped after a page: no sort, no offset.
    assert "campaign_ws_updated" in plan and "Index Cond" in plan and "updated_at <=" in plan
    assert "Sort" not in plan.split("SubPlan")[0]
