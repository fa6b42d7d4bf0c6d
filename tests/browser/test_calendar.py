"""Planning in the calendar, in Chromium: click an empty hour to create, drag to move, undo."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from campaigns import scheduling
from campaigns.models import Campaign
from tests.factories import CampaignFactory, add_image

pytestmark = pytest.mark.browser

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def berlin_alice(alice, alice_workspace):
    alice.timezone = alice_workspace.timezone = "Europe/Berlin"
    alice.save()
    alice_workspace.save()
    return alice


def _next_week_day() -> datetime:
    """Wednesday of next week, so every slot is in the future whatever today is."""
    today = timezone.now().astimezone(BERLIN).date()
    return datetime.combine(today - timedelta(days=today.weekday()) + timedelta(days=9), time())


def test_it_creates_a_post_scheduled_at_the_empty_hour_clicked(page, live_server, sign_in, berlin_alice, shots):
    sign_in(berlin_alice)
    day = _next_week_day()
    page.goto(f"{live_server.url}/calendar/?view=week&date={day:%Y-%m-%d}")
    slot = page.get_by_label(f"New post on {day:%A} {day.day} {day:%B} at 14:00")
    slot.focus()  # keyboard users reach it with Tab
    page.keyboard.press("Enter")
    page.wait_for_url("**/campaigns/new/?at=*")
    assert "It will be scheduled for" in page.content()
    page.fill("input[name=name]", "Wednesday tips")
    page.fill("textarea[name=caption]", "Three tips for a sunny Wednesday")
    page.get_by_role("button", name="Create campaign").click()
    page.wait_for_url("**/campaigns/*/")
    page.screenshot(path=str(shots / "click-to-create.png"), full_page=True)

    campaign = Campaign.objects.get(name="Wednesday tips")
    assert campaign.status == "scheduled"
    assert campaign.schedule.run_at == datetime.combine(day.date(), time(14), tzinfo=BERLIN)
    assert "Scheduled for" in page.content()


def test_it_reschedules_a_dragged_post_and_undo_puts_it_back(page, live_server, sign_in, berlin_alice, alice_workspace, shots):
    day = _next_week_day()
    campaign = CampaignFactory(workspace=alice_workspace, name="Spring launch")
    add_image(campaign)
    planned = datetime.combine(day.date(), time(9, 30), tzinfo=BERLIN)
    scheduling.campaign_schedule(
        campaign=campaign, plan=scheduling.Plan(kind="once", timezone="Europe/Berlin", run_at=planned), by=berlin_alice
    )
    sign_in(berlin_alice)
    page.goto(f"{live_server.url}/calendar/?view=week&date={day:%Y-%m-%d}")
    page.screenshot(path=str(shots / "week-before-drag.png"))

    entry = page.locator("details.cal-entry[draggable=true]", has_text="Spring launch")
    target = page.locator(f'td.cal-slot[data-at="{day + timedelta(days=1):%Y-%m-%d}T16:00"]')
    entry.drag_to(target)
    page.get_by_text("Moved “Spring launch”").wait_for()
    page.screenshot(path=str(shots / "week-after-drag.png"))
    campaign.schedule.refresh_from_db()
    assert campaign.schedule.run_at == datetime.combine(day.date() + timedelta(days=1), time(16), tzinfo=BERLIN)
    assert target.locator("details.cal-entry", has_text="Spring launch").count() == 1

    page.get_by_role("button", name="Undo").click()
    page.get_by_text("Moved “Spring launch” to").wait_for()
    page.locator(f'td.cal-slot[data-at="{day:%Y-%m-%d}T09:00"] details.cal-entry', has_text="Spring launch").wait_for()
    campaign.schedule.refresh_from_db()
    assert campaign.schedule.run_at == planned


def test_it_shows_the_post_as_on_instagram_in_the_pop_over_and_a_phone_gets_a_list(page, live_server, sign_in, berlin_alice, alice_workspace, shots):
    day = _next_week_day()
    campaign = CampaignFactory(workspace=alice_workspace, name="Carousel", caption="A" * 200, first_comment="Shop at our site")
    add_image(campaign)
    add_image(campaign)
    scheduling.campaign_schedule(
        campaign=campaign,
        plan=scheduling.Plan(kind="once", timezone="Europe/Berlin", run_at=datetime.combine(day.date(), time(11), tzinfo=BERLIN)),
        by=berlin_alice,
    )
    sign_in(berlin_alice)
    page.goto(f"{live_server.url}/calendar/?view=week&date={day:%Y-%m-%d}")
    page.locator("details.cal-entry summary", has_text="Carousel").click()
    preview = page.locator(".cal-pop .ig-post")
    preview.wait_for()
    assert preview.get_by_role("button", name="Next image").is_visible()
    assert preview.locator(".ig-dots span").count() == 2
    assert "… more" in preview.inner_text() and "Shop at our site" in preview.inner_text()
    page.screenshot(path=str(shots / "pop-over.png"))

    page.set_viewport_size({"width": 390, "height": 800})
    assert page.locator(".cal-agenda").is_visible()
    assert not page.locator(".cal-hours-wrap").is_visible()
    page.screenshot(path=str(shots / "phone.png"), full_page=True)


def _next_month_day() -> datetime:
    """The 15th of next month: every day of that month view is in the future."""
    today = timezone.now().astimezone(BERLIN).date()
    first_next = (today.replace(day=1) + timedelta(days=32)).replace(day=1)
    return datetime.combine(first_next.replace(day=15), time())


def test_it_creates_a_post_from_a_day_of_the_month(page, live_server, sign_in, berlin_alice, shots):
    sign_in(berlin_alice)
    day = _next_month_day()
    page.goto(f"{live_server.url}/calendar/?view=month&date={day:%Y-%m-%d}")
    page.screenshot(path=str(shots / "month.png"))
    # A click on the day's empty space (the mouse's way)…
    cell = page.locator(".cal-day[data-new-url]", has=page.get_by_label(f"New post on {day:%A} {day.day} {day:%B}"))
    box = cell.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] - 10)
    page.wait_for_url(f"**/campaigns/new/?at={day:%Y-%m-%d}T09:00")
    page.go_back()
    # …and the "+" link a keyboard reaches, to the same place.
    link = page.get_by_label(f"New post on {day:%A} {day.day} {day:%B}")
    link.focus()
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/campaigns/new/?at={day:%Y-%m-%d}T09:00")
    assert "It will be scheduled for" in page.content()
    page.get_by_label("Change the time").fill(f"{day:%Y-%m-%d}T10:30")
    page.fill("input[name=name]", "Mid-month sale")
    page.fill("textarea[name=caption]", "Half the month, half the price")
    page.get_by_role("button", name="Create campaign").click()
    page.wait_for_url("**/campaigns/*/")

    campaign = Campaign.objects.get(name="Mid-month sale")
    assert campaign.status == "scheduled"
    assert campaign.schedule.run_at == datetime.combine(day.date(), time(10, 30), tzinfo=BERLIN)


def test_it_moves_a_post_with_the_keyboard_from_its_pop_over(page, live_server, sign_in, berlin_alice, alice_workspace, shots):
    day = _next_week_day()
    campaign = CampaignFactory(workspace=alice_workspace, name="Autumn drop")
    add_image(campaign)
    planned = datetime.combine(day.date(), time(9, 30), tzinfo=BERLIN)
    scheduling.campaign_schedule(
        campaign=campaign, plan=scheduling.Plan(kind="once", timezone="Europe/Berlin", run_at=planned), by=berlin_alice
    )
    sign_in(berlin_alice)
    page.goto(f"{live_server.url}/calendar/?view=week&date={day:%Y-%m-%d}")
    summary = page.locator("details.cal-entry summary", has_text="Autumn drop")
    summary.focus()
    page.keyboard.press("Enter")  # opens the pop-over
    when = page.get_by_label("Move to")
    assert when.is_visible() and when.input_value() == f"{day:%Y-%m-%d}T09:30"
    when.focus()
    when.fill(f"{day + timedelta(days=2):%Y-%m-%d}T18:15")
    for _ in range(8):  # Tab walks the date's fields, then reaches the button
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.tagName") == "BUTTON":
            break
    assert page.evaluate("document.activeElement.textContent").startswith("Move")
    page.keyboard.press("Enter")
    page.get_by_text("Moved “Autumn drop”").wait_for()
    page.screenshot(path=str(shots / "keyboard-move.png"))
    campaign.schedule.refresh_from_db()
    assert campaign.schedule.run_at == datetime.combine(day.date() + timedelta(days=2), time(18, 15), tzinfo=BERLIN)
    page.locator(f'td.cal-slot[data-at="{day + timedelta(days=2):%Y-%m-%d}T18:00"] details.cal-entry', has_text="Autumn drop").wait_for()

    # The keyboard's focus is on "Undo" after the move, not lost at the top of the page.
    page.wait_for_function("document.activeElement && document.activeElement.textContent === 'Undo'")
    page.keyboard.press("Enter")
    page.locator(f'td.cal-slot[data-at="{day:%Y-%m-%d}T09:00"] details.cal-entry', has_text="Autumn drop").wait_for()
    campaign.schedule.refresh_from_db()
    assert campaign.schedule.run_at == planned


def test_it_shows_the_month_as_a_list_of_days_on_a_phone(page, live_server, sign_in, berlin_alice, alice_workspace, shots):
    day = _next_month_day()
    campaign = CampaignFactory(workspace=alice_workspace, name="Phone post")
    add_image(campaign)
    scheduling.campaign_schedule(
        campaign=campaign,
        plan=scheduling.Plan(kind="once", timezone="Europe/Berlin", run_at=datetime.combine(day.date(), time(12), tzinfo=BERLIN)),
        by=berlin_alice,
    )
    page.set_viewport_size({"width": 390, "height": 800})
    sign_in(berlin_alice)
    page.goto(f"{live_server.url}/calendar/?view=month&date={day:%Y-%m-%d}")
    assert not page.locator(".calendar-month").is_visible()
    agenda = page.locator(".cal-agenda")
    assert agenda.is_visible()
    days = agenda.locator("section")
    last_day = (day.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    assert days.count() == last_day.day
    section = page.get_by_role("region", name=f"{day:%A} {day.day} {day:%B}")
    assert "12:00 Phone post" in section.inner_text()
    # The page fits the phone: no sideways scrolling.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(shots / "month-phone.png"), full_page=True)
    section.get_by_role("link", name="+ New post").click()
    page.wait_for_url(f"**/campaigns/new/?at={day:%Y-%m-%d}T09:00")


def test_it_drags_a_post_to_another_day_of_the_month_keeping_its_time(page, live_server, sign_in, berlin_alice, alice_workspace):
    day = _next_month_day()
    campaign = CampaignFactory(workspace=alice_workspace, name="Month mover")
    add_image(campaign)
    planned = datetime.combine(day.date(), time(11, 45), tzinfo=BERLIN)
    scheduling.campaign_schedule(
        campaign=campaign, plan=scheduling.Plan(kind="once", timezone="Europe/Berlin", run_at=planned), by=berlin_alice
    )
    sign_in(berlin_alice)
    page.goto(f"{live_server.url}/calendar/?view=month&date={day:%Y-%m-%d}")
    target_day = day + timedelta(days=3)
    page.locator("details.cal-entry[draggable=true]", has_text="Month mover").drag_to(
        page.locator(f'.cal-day[data-day="{target_day:%Y-%m-%d}"]')
    )
    page.get_by_text("Moved “Month mover”").wait_for()
    campaign.schedule.refresh_from_db()
    assert campaign.schedule.run_at == datetime.combine(target_day.date(), time(11, 45), tzinfo=BERLIN)
    page.locator(f'.cal-day[data-day="{target_day:%Y-%m-%d}"] details.cal-entry', has_text="Month mover").wait_for()
