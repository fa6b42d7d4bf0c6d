"""The Content-Security-Policy refuses style attributes: no page we serve writes one, except the few
exact values of third-party templates whose hashes the policy lists. Nor an inline script, nor a
<style> block without the request's nonce."""

import base64
import hashlib
import html
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib import admin
from django.urls import reverse
from django.views.defaults import server_error
from django_celery_beat.models import CrontabSchedule, PeriodicTask
from djstripe.models import Customer


# An HTML style attribute, quoted either way or not at all (data-style and the like excluded).
STYLE_ATTRIBUTE = re.compile(r"""[\s"'/]style\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+))""", re.IGNORECASE)


def _policy(response) -> dict[str, list[str]]:
    header = response.headers["Content-Security-Policy"]
    return {name: sources for name, *sources in (part.split() for part in header.split(";") if part.strip())}


def _hash(value: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(value.encode()).digest()).decode() + "'"


def _refused_style_attributes(response) -> list[str]:
    """The page's style attribute values the policy does not list by hash."""
    allowed = _policy(response).get("style-src-attr", [])
    values = [
        html.unescape(next(value for value in match.groups() if value is not None))
        for match in STYLE_ATTRIBUTE.finditer(response.content.decode())
    ]
    return [value for value in values if "'unsafe-hashes'" not in allowed or _hash(value) not in allowed]


class _InlineBlocks(HTMLParser):
    """The page's <script> elements without src that a browser would run, and its <style> elements,
    each with its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict] = []
        self.styles: list[dict] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attributes = dict(attrs)
        if tag == "script" and "src" not in attributes and attributes.get("type", "text/javascript") in ("text/javascript", "module"):
            self.scripts.append(attributes)
        elif tag == "style":
            self.styles.append(attributes)


def _refused_inline_blocks(response) -> list[str]:
    """The page's inline scripts (none is allowed) and its <style> blocks without the request's nonce."""
    policy = _policy(response)
    assert "'unsafe-inline'" not in policy["script-src"] + policy["style-src"]
    nonces = {source[len("'nonce-") : -1] for source in policy["style-src"] if source.startswith("'nonce-")}
    blocks = _InlineBlocks()
    blocks.feed(response.content.decode())
    return [f"<script {attrs}>" for attrs in blocks.scripts] + [
        f"<style {attrs}>" for attrs in blocks.styles if attrs.get("nonce") not in nonces
    ]


def test_it_refuses_style_attributes_but_for_listed_hashes(client):
    directives = _policy(client.get("/accounts/login/"))

    assert "'unsafe-inline'" not in directives["style-src-attr"]
    assert directives["style-src-attr"] == ["'unsafe-hashes'", *map(_hash, settings.STYLE_ATTRIBUTES_ALLOWED)]


def test_it_writes_no_style_attribute_in_our_templates():
    templates = Path(settings.BASE_DIR, "templates")
    found = [
        f"{path.relative_to(templates)}: {match.group(0).strip()}"
        for path in sorted(templates.rglob("*.html"))
        for match in STYLE_ATTRIBUTE.finditer(path.read_text())
    ]
    assert found == []


def test_it_serves_the_signed_in_pages_without_a_refused_style_attribute(client, staff_alice, pages):
    client.force_login(staff_alice)
    for path in pages:
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        assert _refused_style_attributes(response) == [], path


def test_it_serves_the_signed_out_pages_without_a_refused_style_attribute(client):
    for path in ("/accounts/login/", "/accounts/signup/", "/accounts/password/reset/", "/no-such-page/"):
        response = client.get(path)
        assert response.status_code in (200, 404), (path, response.status_code)
        assert _refused_style_attributes(response) == [], path


def test_it_serves_the_500_page_without_a_style_attribute(rf):
    response = server_error(rf.get("/"))
    page = response.content.decode()

    assert response.status_code == 500
    assert STYLE_ATTRIBUTE.search(page) is None
    assert '<link rel="stylesheet" href="/static/css/error.css">' in page


def test_it_serves_every_admin_page_without_a_refused_style_attribute(client, rf, staff_alice, pages):
    """Each registered model's list and add pages, and its change page where ``pages`` made a row:
    no refused style attribute, no inline script, no <style> block without the nonce."""
    # django-celery-beat's change form (its crontab in words) and dj-stripe's (its warning).
    PeriodicTask.objects.create(name="Nightly", task="campaigns.tasks.dispatch_due_runs", crontab=CrontabSchedule.objects.create(hour="3"))
    Customer.objects.create(id="cus_csp", livemode=False)
    client.force_login(staff_alice)
    request = rf.get("/admin/")
    request.user = staff_alice
    checked = 0
    for model, model_admin in admin.site._registry.items():
        name = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        paths = [reverse(f"{name}_changelist")]
        if model_admin.has_add_permission(request):
            paths.append(reverse(f"{name}_add"))
        if first := model._default_manager.first():
            paths.append(reverse(f"{name}_change", args=[first.pk]))
        for path in paths:
            response = client.get(path)
            assert response.status_code == 200, (path, response.status_code)
            assert _refused_style_attributes(response) == [], path
            assert _refused_inline_blocks(response) == [], path
            checked += 1
    assert checked > 50


def test_it_allows_the_style_attributes_of_dj_stripes_action_pages(client, staff_alice):
    client.force_login(staff_alice)

    response = client.post(reverse("admin:djstripe_customer_changelist"), {"action": "_sync_all_instances"})

    assert response.status_code == 200
    assert STYLE_ATTRIBUTE.search(response.content.decode())
    assert _refused_style_attributes(response) == []
