"""Ticking campaigns in the list and acting on them together, in Chromium."""

import pytest

from campaigns.models import Campaign
from tests.factories import CampaignFactory

pytestmark = pytest.mark.browser


def test_it_archives_the_ticked_campaigns_after_asking(page, live_server, sign_in, alice, alice_workspace):
    for name in ("Autumn", "Spring", "Winter"):
        CampaignFactory(workspace=alice_workspace, name=name, status="completed")
    sign_in(alice)
    page.goto(f"{live_server.url}/campaigns/?sort=name")
    page.get_by_label("Select Autumn").check()
    page.get_by_label("Select Winter").check()
    asked = []
    page.on("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    # Choosing the action must not reload the results (and lose the ticks) as the filters' selects do.
    page.get_by_label("With the selected campaigns").select_option("archive")
    page.get_by_role("button", name="Apply").click()

    page.wait_for_url("**/campaigns/?sort=name")
    assert asked == ["Apply this to every selected campaign?"]
    assert "2 campaigns archived." in page.content()
    assert dict(Campaign.objects.values_list("name", "status")) == {
        "Autumn": "archived", "Spring": "completed", "Winter": "archived"
    }
