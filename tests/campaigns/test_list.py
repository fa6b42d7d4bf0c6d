import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from campaigns import executions
from campaigns.models import Campaign
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


def test_the_list_query_count_stays_the_same_from_5_to_200_campaigns(alice_client, alice_workspace):
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


def test_a_deep_page_holds_the_right_rows_in_order_with_their_runs_and_images(alice_workspace):
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


def test_on_postgresql_the_search_can_use_the_trigram_indexes(alice_workspace):
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
