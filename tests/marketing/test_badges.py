"""Status badges take their colour from one table, wherever they are drawn."""

from django.template import Context, Template

from marketing.templatetags.badges import status_badge_html
from tests.factories import CampaignFactory


def _render(source: str, **context) -> str:
    return Template("{% load badges %}" + source).render(Context(context))


def test_it_colours_a_status_by_its_tone():
    assert _render("{% status_badge 'failed' 'Failed' %}") == '<span class="badge badge-danger">Failed</span>'


def test_it_draws_an_unknown_status_plain_and_shows_the_value():
    assert _render("{% status_badge 'unknown' %}") == '<span class="badge">unknown</span>'


def test_it_escapes_the_label():
    assert "&lt;b&gt;" in _render("{% status_badge 'error' label %}", label="<b>")


def test_it_draws_the_same_badge_on_the_campaign_list_and_detail(alice_client, alice_workspace):
    campaign = CampaignFactory(workspace=alice_workspace, status="paused")
    badge = status_badge_html("paused", "Paused")

    assert badge in alice_client.get("/campaigns/").content.decode()
    assert badge in alice_client.get(campaign.get_absolute_url()).content.decode()
