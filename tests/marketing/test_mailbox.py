"""The development mailbox: emails kept as files under DEBUG and read on a page."""

import pytest
from django.core import mail
from django.urls import reverse

from tests.factories import PASSWORD


@pytest.fixture
def mailbox(settings, tmp_path):
    settings.DEBUG = True
    settings.EMAIL_BACKEND = "marketing.mailbox.MailboxBackend"
    settings.MAILBOX_DIR = str(tmp_path / "mailbox")
    return tmp_path / "mailbox"


def test_it_puts_a_new_users_verification_link_in_the_mailbox(client, mailbox, db):
    response = client.post(
        reverse("account_signup"), {"email": "dana@example.com", "password1": PASSWORD, "password2": PASSWORD}, follow=True
    )
    assert 'href="/dev/mailbox/"' in response.content.decode()
    assert len(list(mailbox.glob("*.eml"))) == 1

    page = client.get("/dev/mailbox/").content.decode()
    assert "dana@example.com" in page
    assert '<a href="http://' in page and "/accounts/confirm-email/" in page


def test_it_gives_each_email_its_own_page(client, mailbox, db):
    mail.send_mail("First", "one", None, ["a@example.com"])
    mail.send_mail("Second", "two http://example.com/x", None, ["b@example.com"])
    ids = sorted(path.stem for path in mailbox.glob("*.eml"))
    page = client.get(f"/dev/mailbox/{ids[0]}/").content.decode()
    assert "<h2>First</h2>" in page
    assert client.get("/dev/mailbox/..%2F..%2Fetc/").status_code == 404


def test_it_has_no_mailbox_outside_development(client, settings, db):
    settings.DEBUG = False
    assert client.get("/dev/mailbox/").status_code == 404


def test_it_serves_a_favicon(client, db):
    assert client.get("/favicon.ico").status_code == 301
    assert '<link rel="icon" href="/static/favicon.svg"' in client.get(reverse("account_login")).content.decode()
