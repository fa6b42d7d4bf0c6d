"""Staff open the monitoring dashboard in Chromium: charts drawn, hover values, range switch by HTMX."""

import pytest
from django.utils import timezone

from monitoring.models import Rollup
from tests.factories import PASSWORD, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_it_lets_staff_open_the_dashboard_and_switch_its_range(page, live_server, tmp_path):
    staff = UserFactory(email="ops@example.com", is_staff=True)
    now = timezone.now().replace(second=0, microsecond=0)
    Rollup.objects.create(series="request", key="GET campaign_list", resolution="m", bucket=now, count=30, failures=3, h3=30, total_ms=2400)
    Rollup.objects.create(series="request", key="GET campaign_list", resolution="h", bucket=now.replace(minute=0), count=30, failures=3, h3=30, total_ms=2400)

    page.goto(f"{live_server.url}/accounts/login/?next=/monitoring/")
    page.fill("input[name=login]", staff.email)
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url(f"{live_server.url}/monitoring/")

    assert page.get_by_role("heading", name="Monitoring").is_visible()
    assert page.locator("svg[aria-label='Requests per minute']").is_visible()
    assert "GET campaign_list" in page.locator("table").first.inner_text()
    # Any bucket, not the last: the page may be drawn in the minute after the rollup's.
    hovers = page.locator("svg[aria-label='Requests per minute'] rect.mon-hover title").all_text_contents()
    assert [hover for hover in hovers if "all: 30 req/min" in hover and "5xx: 3 req/min" in hover]
    page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)

    page.get_by_role("link", name="Last week").click()
    page.wait_for_url("**/monitoring/?range=week")
    assert page.locator("#mon-body a[aria-current=true]").inner_text() == "Last week"
    assert page.locator("svg[aria-label='Requests per minute'] rect.mon-hover").count() == 7 * 24


@pytest.mark.parametrize("width", [390, 1280])
def test_it_fits_the_screen_with_every_axis_label_whole(page, live_server, sign_in, width, tmp_path):
    sign_in(UserFactory(is_staff=True))
    now = timezone.now().replace(second=0, microsecond=0)
    Rollup.objects.create(series="request", key="GET campaign_list", resolution="m", bucket=now, count=3, h3=3, total_ms=240)
    page.set_viewport_size({"width": width, "height": 800})
    page.goto(f"{live_server.url}/monitoring/")

    assert page.evaluate("document.documentElement.scrollWidth") <= width
    cut = page.evaluate(
        """() => [...document.querySelectorAll('svg.mon-chart, figure.mon-chart svg')].flatMap(svg => {
                 const box = svg.getBoundingClientRect();
                 return [...svg.querySelectorAll('text.mon-axis')].filter(text => {
                   const own = text.getBoundingClientRect();
                   return own.left < box.left - 0.5 || own.right > box.right + 0.5;
                 }).map(text => svg.getAttribute('aria-label') + ': ' + text.textContent);
               })"""
    )
    assert cut == []
    # Cards side by side start on one line: the grid's gap spaces them, not a margin on the second.
    tops = page.evaluate("[...document.querySelector('.mon-grid-2').children].map(card => card.getBoundingClientRect().top)")
    if width > 900:
        assert len(tops) == 2 and tops[0] == tops[1]
    page.screenshot(path=str(tmp_path / f"monitoring-{width}.png"), full_page=True)
