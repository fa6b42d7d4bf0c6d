"""Charlie, in a workspace of his own, can neither see nor publish to Alice's accounts."""

from campaigns import executions
from campaigns.models import CampaignTarget
from integrations.instagram.models import InstagramAccount
from tests.factories import CampaignFactory, add_image


def test_it_does_not_show_charlie_alices_accounts(charlie_client, account):
    page = charlie_client.get("/instagram/")

    assert page.status_code == 200
    assert b"@aliceco" not in page.content


def test_it_answers_charlie_404_on_alices_account_pages(charlie_client, account):
    assert charlie_client.get(f"/instagram/{account.pk}/").status_code == 404
    for action in ("reconnect", "disconnect"):
        assert charlie_client.post(f"/instagram/{account.pk}/{action}/").status_code == 404, action
    account.refresh_from_db()
    assert (account.status, account.access_token != "") == ("connected", True)


def test_it_neither_offers_nor_accepts_alices_account_on_charlies_campaign_form(charlie_client, account):
    form = charlie_client.get("/campaigns/new/")
    assert f"instagram:{account.pk}".encode() not in form.content

    response = charlie_client.post(
        "/campaigns/new/", {"name": "Hijack", "caption": "hi", "targets": [f"instagram:{account.pk}"], "fit": "none"}
    )

    assert response.status_code == 200  # the form again, with an error
    assert not CampaignTarget.objects.filter(destination="instagram", object_id=account.pk).exists()


def test_it_does_not_let_a_campaign_of_charlies_publish_to_alices_account(graph, charlie, account):
    # Even a campaign row pointing across workspaces (only possible behind the services' back) publishes nothing.
    workspace = charlie.memberships.get().workspace
    campaign = CampaignFactory(workspace=workspace)
    add_image(campaign)
    CampaignTarget.objects.create(campaign=campaign, destination="instagram", object_id=account.pk)
    execution = executions.execution_create(campaign=campaign)

    executions.execution_run(execution_id=execution.pk)

    execution.refresh_from_db()
    assert (execution.status, execution.error_category) == ("failed", "validation")
    assert "not one of this workspace's accounts" in execution.error_message
    assert graph.calls == []


def test_it_lists_only_the_workspaces_own_accounts_in_the_reconnect_banner(rf, charlie, account):
    from django.template.loader import render_to_string

    from integrations.instagram.context_processors import instagram_banner

    InstagramAccount.objects.filter(pk=account.pk).update(status="needs_reconnect")
    request = rf.get("/")
    request.workspace = charlie.memberships.get().workspace

    html = render_to_string("instagram/_reconnect_banner.html", instagram_banner(request))

    assert "aliceco" not in html
