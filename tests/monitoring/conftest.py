import pytest
from django.test import Client


@pytest.fixture
def failing_urls(settings):
    settings.ROOT_URLCONF = "tests.monitoring.urls"


@pytest.fixture
def quiet_client(failing_urls) -> Client:
    """A client that gets the 500 page instead of the view's exception."""
    return Client(raise_request_exception=False)
