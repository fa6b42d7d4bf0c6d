from tests.integrations.cms.feed_server import feed_server  # noqa: F401 - a fixture

import pytest
from django.test import TestCase

from integrations.cms import services
from integrations.cms.models import ContentSource


@pytest.fixture
def make_source(alice_workspace, feed_server):
    """A source in Alice's workspace, created through the service, reading ``feed_server``."""

    def make(path: str = "/feed.xml", **fields) -> ContentSource:
        fields.setdefault("workspace", alice_workspace)
        fields.setdefault("by", None)
        fields.setdefault("name", "Acme blog")
        fields.setdefault("url", feed_server.url(path))
        return services.source_create(**fields)

    return make


def poll(source: ContentSource, **kwargs):
    """One poll of ``source``, with the items it found acted on as the worker would."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        result = services.source_poll(source_id=source.pk, **kwargs)
    source.refresh_from_db()
    return result
from tests.integrations.cms.fake_wordpress import fake_wordpress  # noqa: E402,F401 - a fixture
