"""Importing campaigns from pasted spreadsheet rows, in Chromium: check, correct, import."""

import pytest
from playwright.sync_api import expect

from campaigns.models import Campaign
from integrations.instagram.models import InstagramAccount

pytestmark = pytest.mark.browser

ROWS = "name\ttargets\tpublish_at\nTeaser\t@alice.shop\t2031-03-05 09:30\nMonday tip\t@alice.shop\tsoon\n"


def test_it_checks_pasted_rows_then_imports_them(page, live_server, sign_in, alice, alice_workspace, shots):
    InstagramAccount.objects.create(workspace=alice_workspace, ig_user_id="17841400000000001", username="alice.shop", page_id="1")
    sign_in(alice)
    page.goto(f"{live_server.url}/campaigns/")
    page.get_by_role("link", name="Import").click()
    page.get_by_label("Or paste the rows").fill(ROWS)
    page.get_by_role("button", name="Check the rows").click()

    expect(page.locator("#import-check h2")).to_have_text("Nothing imported: 1 problem to fix")
    expect(page.locator("#import-rows tbody tr").nth(1)).to_contain_text("“soon” is not a date and time")
    page.screenshot(path=shots / "import-refused.png", full_page=True)

    page.get_by_label("Or paste the rows").fill(ROWS.replace("soon", ""))
    page.get_by_role("button", name="Check the rows").click()
    expect(page.locator("#import-check h2")).to_have_text("Ready to import 2 campaigns")
    page.screenshot(path=shots / "import-ready.png", full_page=True)
    page.get_by_role("button", name="Import 2 campaigns").click()

    expect(page.locator(".messages, [role=status], .alert").first).to_contain_text("2 campaigns imported, 1 of them scheduled.")
    page.screenshot(path=shots / "import-done.png", full_page=True)
    assert sorted(Campaign.objects.values_list("name", "status")) == [("Monday tip", "draft"), ("Teaser", "scheduled")]
