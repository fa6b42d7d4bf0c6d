"""Staff see accounts, publish attempts and insights in the admin, never a token."""

import pytest

from tests.factories import UserFactory

from .conftest import LONG_TOKEN


@pytest.fixture
def staff_client(client, db):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_it_never_shows_the_token_on_the_account_page(staff_client, account):
    page = staff_client.get(f"/admin/instagram/instagramaccount/{account.pk}/change/")

    assert page.status_code == 200
    assert b"aliceco" in page.content
    assert LONG_TOKEN.encode() not in page.content
    assert b"access_token" not in page.content


@pytest.mark.parametrize("model", ["instagramaccount", "publishattempt", "insightvalue"])
def test_it_loads_the_lists(staff_client, account, model):
    assert staff_client.get(f"/admin/instagram/{model}/?q=alice").status_code == 200
