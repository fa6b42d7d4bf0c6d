"""Every main page runs under the Content-Security-Policy in Chromium without a single violation,
and what depends on script (HTMX swaps, confirmations, Swagger UI, the admin) still works."""

import re

import pytest
from django_celery_beat.models import CrontabSchedule, PeriodicTask
from djstripe.models import Customer
from playwright.sync_api import expect

from tests.factories import CampaignFactory, PASSWORD, add_image
from triggers import services as trigger_services

pytestmark = pytest.mark.browser

# Collects violations as the page reports them; an init script runs before any of the page's own.
LISTEN = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", function (event) {
  window.__csp.push(event.violatedDirective + " " + (event.blockedURI || "inline") + " " + event.sourceFile + ":" + event.lineNumber);
});
"""


@pytest.fixture
def watched(page):
    """The page, with every CSP violation (event or console message) and script error recorded."""
    problems: list[str] = []
    page.add_init_script(LISTEN)
    page.on("console", lambda message: problems.append(message.text) if "Content Security Policy" in message.text or "htmx:" in message.text.lower() and message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("dialog", lambda dialog: dialog.accept())
    page.problems = problems
    return page


def _visit(page, url: str) -> None:
    response = page.goto(url)
    assert response.status < 400, (url, response.status)
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page.wait_for_load_state("networkidle")
    _assert_clean(page, url)


def _assert_clean(page, url: str) -> None:
    violations = page.evaluate("window.__csp")
    assert violations == [] and page.problems == [], (url, violations, page.problems)


def test_it_serves_the_main_pages_without_a_violation(watched, live_server, sign_in, staff_alice, alice_workspace):
    campaign = CampaignFactory(workspace=alice_workspace, name="Spring sale")
    add_image(campaign)
    trigger = trigger_services.trigger_create(workspace=alice_workspace, by=None, name="Orders", kind="event", campaigns=[campaign])
    sign_in(staff_alice)
    base = live_server.url
    for path in (
        "/",
        "/campaigns/",
        f"/campaigns/{campaign.pk}/",
        f"/campaigns/{campaign.pk}/edit/",
        f"/campaigns/{campaign.pk}/schedule/",
        "/calendar/",
        "/calendar/?view=week",
        "/triggers/",
        f"/triggers/{trigger.pk}/",
        f"/triggers/{trigger.pk}/edit/",
        "/billing/",
        "/pricing/",
        "/members/",
        "/monitoring/",
        "/monitoring/errors/",
        "/monitoring/status/",
        "/instagram/",
        "/n8n/",
        "/admin/",
        "/admin/marketing/user/",
        f"/admin/marketing/user/{staff_alice.pk}/change/",
        "/admin/campaigns/campaign/",
    ):
        _visit(watched, base + path)


def test_it_keeps_htmx_and_confirmations_working(watched, live_server, sign_in, alice, alice_workspace):
    CampaignFactory(workspace=alice_workspace, name="Spring sale")
    CampaignFactory(workspace=alice_workspace, name="Autumn launch")
    sign_in(alice)
    _visit(watched, f"{live_server.url}/campaigns/")
    watched.fill("input[name=q]", "autumn")  # hx-get on input, swaps #results
    watched.wait_for_url("**/campaigns/?*q=autumn*")
    assert "Autumn launch" in watched.locator("#results").inner_text()
    assert "Spring sale" not in watched.locator("#results").inner_text()

    campaign = CampaignFactory(workspace=alice_workspace, name="Winter")
    _visit(watched, f"{live_server.url}/campaigns/{campaign.pk}/edit/")
    watched.fill("#id_hashtags", "")
    watched.fill("#id_caption", "x" * 30)  # the live character counter posts through HTMX
    expect(watched.locator("#caption-counter")).to_have_text(re.compile(r"^\s*30 /"))
    _assert_clean(watched, "after HTMX swaps")


def test_it_asks_before_a_destructive_form_is_sent(watched, live_server, sign_in, alice, alice_workspace):
    campaign = CampaignFactory(workspace=alice_workspace)
    trigger = trigger_services.trigger_create(workspace=alice_workspace, by=None, name="Orders", kind="event", campaigns=[campaign])
    old_token = trigger.token
    sign_in(alice)
    _visit(watched, f"{live_server.url}/triggers/{trigger.pk}/")
    asked: list[str] = []
    watched.on("dialog", lambda dialog: asked.append(dialog.message))
    watched.get_by_role("button", name="Make a new URL").click()
    watched.wait_for_load_state("networkidle")
    trigger.refresh_from_db()
    assert asked == ["Make a new URL? The current one stops working at once."]
    assert trigger.token != old_token
    _assert_clean(watched, "after the confirmation")


def test_it_serves_the_login_page_and_signs_in(watched, live_server, alice):
    _visit(watched, f"{live_server.url}/accounts/login/")
    watched.fill("input[name=login]", alice.email)
    watched.fill("input[name=password]", PASSWORD)
    watched.get_by_role("button", name="Sign In").click()
    watched.wait_for_url(f"{live_server.url}/")
    _assert_clean(watched, "after signing in")


def test_it_renders_the_api_docs(watched, live_server):
    _visit(watched, f"{live_server.url}/api/docs/")
    watched.wait_for_selector(".swagger-ui .info .title")
    assert "Marketing API" in watched.locator(".swagger-ui .info .title").inner_text()
    _assert_clean(watched, "/api/docs/ rendered")


def test_it_reads_a_periodic_tasks_crontab_in_words_in_the_admin(watched, live_server, sign_in, staff_alice):
    nightly = CrontabSchedule.objects.create(minute="0", hour="3")
    hourly = CrontabSchedule.objects.create(minute="20", hour="*")
    task = PeriodicTask.objects.create(name="Nightly", task="campaigns.tasks.dispatch_due_runs", crontab=nightly)
    sign_in(staff_alice)
    _visit(watched, f"{live_server.url}/admin/django_celery_beat/periodictask/{task.pk}/change/")
    help_text = watched.locator(".field-crontab .help")

    expect(help_text).to_contain_text(f"Translation: {nightly.human_readable}")
    expect(watched.locator(".field-crontab_translation")).to_be_hidden()
    watched.select_option("#id_crontab", str(hourly.pk))
    expect(help_text).to_contain_text(f"Translation: {hourly.human_readable}")
    expect(help_text).not_to_contain_text(nightly.human_readable)
    _assert_clean(watched, "after choosing a crontab")


def test_it_styles_dj_stripes_warning_in_the_admin(watched, live_server, sign_in, staff_alice):
    customer = Customer.objects.create(id="cus_csp", livemode=False)
    sign_in(staff_alice)
    _visit(watched, f"{live_server.url}/admin/djstripe/customer/{customer.pk}/change/")

    expect(watched.locator(".stripe-confirmation-warning")).to_have_css("padding", "16px")
