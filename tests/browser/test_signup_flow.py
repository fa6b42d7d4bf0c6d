import re
from urllib.parse import urlsplit

import pytest
from django.core import mail

from marketing.models import Membership

pytestmark = pytest.mark.browser

EMAIL = "newcomer@example.com"
PASSWORD = "a long and unusual passphrase 7"


def test_it_signs_up_verifies_logs_in_and_toggles_password_visibility(page, live_server, tmp_path):
    page.goto(f"{live_server.url}/accounts/signup/")
    page.fill("input[name=email]", EMAIL)
    page.fill("input[name=password1]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    page.get_by_role("button", name="Sign Up").click()
    page.wait_for_url("**/accounts/confirm-email/")
    assert "Verify Your Email Address" in page.content()

    confirm_url = re.search(r"https?://\S+/accounts/confirm-email/\S+", mail.outbox[0].body).group(0)
    page.goto(live_server.url + urlsplit(confirm_url).path)
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url(f"{live_server.url}/")
    assert page.get_by_role("heading", name="Welcome").is_visible()

    page.locator("summary", has_text="Account menu").click()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/accounts/login/**")

    password = page.locator("input[name=password]")
    page.fill("input[name=login]", EMAIL)
    password.fill(PASSWORD)
    assert password.get_attribute("type") == "password"
    page.get_by_role("button", name="Show password").click()
    assert password.get_attribute("type") == "text"
    page.get_by_role("button", name="Hide password").click()
    assert password.get_attribute("type") == "password"
    page.screenshot(path=str(tmp_path / "login.png"))

    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url(f"{live_server.url}/")
    assert "newcomer's workspace" in page.locator(".workspace-switcher summary").inner_text()
    assert Membership.objects.get(user__email=EMAIL).role == "owner"


def test_it_underlines_a_link_inside_a_sentence(page, live_server):
    page.goto(f"{live_server.url}/accounts/login/")
    link = page.locator("p a[href$='/accounts/signup/']").first
    assert link.evaluate("a => getComputedStyle(a).textDecorationLine") == "underline"
    # Buttons, links styled as buttons included, stay without one.
    buttons = page.locator(".btn").evaluate_all("els => els.map(e => getComputedStyle(e).textDecorationLine)")
    assert buttons and "underline" not in buttons
