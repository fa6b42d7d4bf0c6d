"""A new marketer's first hour, in Chromium: scheduling and Run now, an invitation, the mailbox."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from campaigns.models import Campaign, CampaignExecution
from marketing.models import Membership, User
from marketing.services import invitation_token
from tests.factories import CampaignFactory, InvitationFactory, add_image

pytestmark = pytest.mark.browser


def test_it_leaves_a_one_time_schedule_in_place_on_run_now(page, live_server, sign_in, alice, alice_workspace, shots):
    alice_workspace.timezone = alice.timezone = "Europe/Berlin"
    alice_workspace.save()
    alice.save()
    campaign = CampaignFactory(workspace=alice_workspace, name="Spring launch", caption="Spring is here 🌷")
    add_image(campaign)
    sign_in(alice)

    page.goto(f"{live_server.url}/campaigns/{campaign.pk}/schedule/")
    planned = (timezone.now() + timedelta(days=2)).astimezone(timezone.get_default_timezone())
    page.get_by_label("Date and time", exact=True).fill(f"{planned:%Y-%m-%d}T09:30")
    page.get_by_role("button", name="Save schedule").click()
    page.wait_for_url(f"**/campaigns/{campaign.pk}/")
    assert "Schedule saved." in page.content()

    page.get_by_role("button", name="Run now").click()
    page.wait_for_url(f"**/campaigns/{campaign.pk}/")
    page.get_by_text("Succeeded").first.wait_for()
    page.screenshot(path=str(shots / "run-now-keeps-schedule.png"), full_page=True)

    body = page.locator("main").inner_text()
    assert "Next run:" in body and "09:30" in body
    assert page.locator("h1 .badge").inner_text() == "Scheduled"
    campaign.refresh_from_db()
    assert campaign.status == "scheduled"
    assert CampaignExecution.objects.filter(campaign=campaign, status="succeeded").count() == 1


def test_it_signs_up_from_an_invitation(page, live_server, alice, alice_workspace, shots):
    invitation = InvitationFactory(workspace=alice_workspace, email="frank@example.com", invited_by=alice)
    page.goto(f"{live_server.url}/invite/{invitation_token(invitation)}/")
    page.get_by_role("link", name="Create an account").click()
    page.wait_for_url("**/accounts/signup/**")

    email = page.locator("input[name=email]")
    assert email.input_value() == "frank@example.com"
    assert email.is_disabled()
    page.fill("input[name=password1]", "a long and unusual passphrase 7")
    page.fill("input[name=password2]", "a long and unusual passphrase 7")
    page.screenshot(path=str(shots / "invited-signup.png"), full_page=True)
    page.get_by_role("button", name="Sign Up").click()
    page.wait_for_url(f"{live_server.url}/")

    assert "Alice Co" in page.locator(".workspace-switcher summary").inner_text()
    frank = User.objects.get(email="frank@example.com")
    assert [m.workspace_id for m in Membership.objects.filter(user=frank)] == [alice_workspace.pk]
    # Chromium reports the machine's zone; the account takes it rather than UTC by default.
    assert frank.timezone == page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone")


def test_it_lets_a_new_user_verify_through_the_development_mailbox(page, live_server, settings, tmp_path, shots):
    settings.DEBUG = True
    settings.EMAIL_BACKEND = "marketing.mailbox.MailboxBackend"
    settings.MAILBOX_DIR = str(tmp_path / "mailbox")
    page.goto(f"{live_server.url}/accounts/signup/")
    page.fill("input[name=email]", "dana@example.com")
    page.fill("input[name=password1]", "a long and unusual passphrase 7")
    page.fill("input[name=password2]", "a long and unusual passphrase 7")
    page.get_by_role("button", name="Sign Up").click()
    page.wait_for_url("**/accounts/confirm-email/")

    page.get_by_role("link", name="development mailbox").click()
    page.wait_for_url("**/dev/mailbox/")
    page.screenshot(path=str(shots / "mailbox.png"), full_page=True)
    page.locator(".mail-body a[href*=\"/accounts/confirm-email/\"]").click()
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url(f"{live_server.url}/")
    assert page.get_by_role("heading", name="Welcome").is_visible()


@pytest.mark.parametrize("width", [1280, 1440])
def test_it_shows_every_tab_of_the_top_bar_without_scrolling(page, live_server, sign_in, alice, width):
    alice.is_staff = True  # staff see the most tabs
    alice.save()
    sign_in(alice)
    page.set_viewport_size({"width": width, "height": 800})
    page.goto(f"{live_server.url}/calendar/")
    hidden = page.evaluate(
        """() => { const nav = document.querySelector('.topnav'); const box = nav.getBoundingClientRect();
                   return [...nav.querySelectorAll('a')].filter(a => a.getBoundingClientRect().right > box.right + 1).map(a => a.textContent.trim()); }"""
    )
    assert page.locator(".topnav a").count() >= 10
    assert hidden == [], f"cut off at {width} px: {hidden}"


@pytest.mark.parametrize("width", [360, 390])
def test_it_keeps_the_header_to_one_row_and_the_tabs_on_a_phone(page, live_server, sign_in, alice, alice_workspace, width):
    alice_workspace.name = "Sommerschlussverkauf Leinenhemden Berlin"
    alice_workspace.save()
    sign_in(alice)
    page.set_viewport_size({"width": width, "height": 800})
    page.goto(f"{live_server.url}/")
    brand, account = (page.locator(selector).first.bounding_box() for selector in (".brand", ".account-menu"))
    assert abs(account["y"] + account["height"] / 2 - (brand["y"] + brand["height"] / 2)) < 4
    assert page.locator(".topbar").bounding_box()["height"] < 120  # the row and the tabs' row
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert page.get_by_role("link", name="Marketing").first.is_visible()  # named for screen readers


@pytest.mark.parametrize("width", [390, 1280])
def test_it_lets_the_keyboard_scroll_a_table_wider_than_the_screen(page, live_server, sign_in, alice, width):
    sign_in(alice)
    page.set_viewport_size({"width": width, "height": 800})
    page.goto(f"{live_server.url}/pricing/")
    wrap = page.locator(".table-wrap").first
    if width == 390:
        assert wrap.get_attribute("tabindex") == "0" and wrap.get_attribute("role") == "region"
        assert "scrolls sideways" in wrap.get_attribute("aria-label")
        wrap.focus()
        for _ in range(3):
            page.keyboard.press("ArrowRight")
        expect(wrap).not_to_have_js_property("scrollLeft", 0)
    else:
        assert wrap.get_attribute("tabindex") is None  # it does not scroll: not a stop for the Tab key
    # Narrowed after loading: marked then, too.
    page.set_viewport_size({"width": 360, "height": 800})
    expect(wrap).to_have_attribute("tabindex", "0")


def test_it_shows_past_days_of_the_phone_calendar_without_fading_their_text(page, live_server, sign_in, alice):
    sign_in(alice)
    page.set_viewport_size({"width": 390, "height": 800})
    last_month = (timezone.now().replace(day=1) - timedelta(days=1)).date()
    page.goto(f"{live_server.url}/calendar/?view=month&date={last_month:%Y-%m-%d}")
    opacities = page.locator(".cal-agenda-past").evaluate_all("els => els.map(e => getComputedStyle(e).opacity)")
    assert opacities and set(opacities) == {"1"}


def test_it_lets_the_keyboard_skip_the_header(page, live_server, sign_in, alice):
    sign_in(alice)
    page.goto(f"{live_server.url}/campaigns/")
    skip = page.get_by_role("link", name="Skip to content")
    assert not skip.is_visible() or skip.bounding_box()["y"] < 0  # out of sight until focused
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Skip to content"
    assert skip.bounding_box()["y"] >= 0
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.closest('main') !== null")
