"""Hashtag groups: a workspace's saved hashtags, added to a campaign from its form."""

import pytest
from django.core.exceptions import ValidationError

from campaigns import services
from campaigns.captions import MAX_HASHTAGS
from campaigns.models import HashtagGroup
from tests.factories import CampaignFactory


def test_it_saves_a_group_with_its_hashtags_normalised(alice_workspace):
    group = services.hashtag_group_save(workspace=alice_workspace, name=" Summer ", hashtags="summer, #Sale sale  #beach")

    assert (group.name, group.hashtags) == ("Summer", "#summer #Sale #beach")


@pytest.mark.parametrize(
    ("name", "hashtags", "field", "message"),
    [
        ("", "#a", "name", "Give the group a name."),
        ("Empty", " # , ", "hashtags", "Add at least one hashtag."),
        ("Many", " ".join(f"#t{n}" for n in range(MAX_HASHTAGS + 1)), "hashtags", "31 hashtags; Instagram allows 30 on a post."),
        ("brand", "#b", "name", "There is already a group named “brand”."),
    ],
)
def test_it_refuses_a_group_it_could_not_use(alice_workspace, name, hashtags, field, message):
    services.hashtag_group_save(workspace=alice_workspace, name="Brand", hashtags="#acme")

    with pytest.raises(ValidationError) as refused:
        services.hashtag_group_save(workspace=alice_workspace, name=name, hashtags=hashtags)

    assert refused.value.message_dict == {field: [message]}


def test_it_lets_two_workspaces_use_the_same_name(alice_workspace, charlie):
    services.hashtag_group_save(workspace=alice_workspace, name="Brand", hashtags="#acme")

    services.hashtag_group_save(workspace=charlie.memberships.get().workspace, name="Brand", hashtags="#charlie")

    assert HashtagGroup.objects.count() == 2


def test_it_keeps_a_groups_own_name_when_it_is_changed(alice_workspace):
    group = services.hashtag_group_save(workspace=alice_workspace, name="Brand", hashtags="#acme")

    services.hashtag_group_save(workspace=alice_workspace, group=group, name="brand", hashtags="#acme #new")

    group.refresh_from_db()
    assert (group.name, group.hashtags) == ("brand", "#acme #new")


def test_it_creates_a_group_from_its_page_and_lists_it(alice_client):
    response = alice_client.post("/campaigns/hashtags/", {"name": "Brand", "hashtags": "acme acmewear"}, follow=True)

    page = response.content.decode()
    assert "Hashtag group “Brand” saved" in page
    assert "#acme #acmewear" in page


def test_it_shows_the_services_refusal_on_the_form(alice_client, alice_workspace):
    services.hashtag_group_save(workspace=alice_workspace, name="Brand", hashtags="#acme")

    response = alice_client.post("/campaigns/hashtags/", {"name": "BRAND", "hashtags": "#x"})

    assert response.status_code == 200
    assert "There is already a group named “BRAND”." in response.content.decode()
    assert HashtagGroup.objects.count() == 1


def test_it_edits_and_deletes_a_group(alice_client, alice_workspace):
    group = services.hashtag_group_save(workspace=alice_workspace, name="Brand", hashtags="#acme")

    alice_client.post(f"/campaigns/hashtags/{group.pk}/", {"name": "Brand", "hashtags": "#acme #wear"})
    group.refresh_from_db()
    assert group.hashtags == "#acme #wear"

    alice_client.post(f"/campaigns/hashtags/{group.pk}/delete/")
    assert not HashtagGroup.objects.exists()


def test_it_answers_404_for_another_workspaces_group(charlie_client, alice_workspace):
    group = services.hashtag_group_save(workspace=alice_workspace, name="Brand", hashtags="#acme")

    assert charlie_client.get(f"/campaigns/hashtags/{group.pk}/").status_code == 404
    assert charlie_client.post(f"/campaigns/hashtags/{group.pk}/delete/").status_code == 404
    assert "Brand" not in charlie_client.get("/campaigns/hashtags/").content.decode()
    assert HashtagGroup.objects.filter(pk=group.pk).exists()


def test_it_offers_the_groups_on_the_campaign_form(alice_client, alice_workspace):
    services.hashtag_group_save(workspace=alice_workspace, name="Brand", hashtags="#acme #wear")
    campaign = CampaignFactory(workspace=alice_workspace)

    for url in ("/campaigns/new/", f"/campaigns/{campaign.pk}/edit/"):
        page = alice_client.get(url).content.decode()
        assert '<button class="btn btn-sm" type="button" data-hashtags="#acme #wear" title="#acme #wear">+ Brand</button>' in page
