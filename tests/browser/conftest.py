import os
import shutil

import pytest

CHROMIUM = "/usr/bin/chromium"
# The machine's network is closed: without these flags Chromium keeps dialling out.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser():
    if not shutil.which(CHROMIUM):
        if os.environ.get("REQUIRE_BROWSER"):
            pytest.fail(f"{CHROMIUM} is missing: apt-get install -y --no-install-recommends chromium")
        pytest.skip("Chromium is not installed (apt-get install -y --no-install-recommends chromium)")
    # Playwright's sync API runs an event loop in this thread; Django's ORM is safe here since
    # the test and the live server each use their own connection.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


@pytest.fixture
def sign_in(page, live_server):
    """Signs ``user`` in to the browser through a session cookie, as a login would."""
    from django.test import Client

    def _sign_in(user):
        client = Client()
        client.force_login(user)
        page.context.add_cookies(
            [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
        )

    return _sign_in


@pytest.fixture
def shots(tmp_path_factory):
    """Where a test's screenshots go; BROWSER_SHOTS keeps them somewhere to look at."""
    from pathlib import Path

    directory = Path(os.environ.get("BROWSER_SHOTS") or tmp_path_factory.mktemp("shots"))
    directory.mkdir(parents=True, exist_ok=True)
    return directory
