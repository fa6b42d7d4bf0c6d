"""Adding a hashtag group to a campaign's hashtags, in Chromium."""

import pytest
from playwright.sync_api import expect

from campaigns import services

pytestmark = pytest.mark.browser


def test_it_adds_a_groups_hashtags_once_each(page, live_server, sign_in, alice, alice_workspace):
    services.hashtag_group_save(workspace=alice_workspace, name="Brand", hashtags="#acme #wear #Summer")
    sign_in(alice)
    page.goto(f"{live_server.url}/campaigns/new/")
    page.get_by_label("Hashtags").fill("summer #sale")

    page.get_by_role("button", name="+ Brand").click()
    page.get_by_role("button", name="+ Brand").click()

    assert page.get_by_label("Hashtags").input_value() == "summer #sale #acme #wear"
    # The caption counter heard about it: "#summer #sale #acme #wear" is 25 characters.
    expect(page.locator("#caption-counter")).to_have_text("25 / 2,200 characters")
