"""With the broker unreachable, polls and new posts waiting to be acted on are kept in the outbox
and started once it is back, instead of being lost with an error."""

import pytest
from django.test import TestCase
from django.utils import timezone

from integrations.cms import services, tasks
from integrations.cms.models import ContentSource, ItemStatus
from marketing.models import OutboxTask
from tests.integrations.cms.test_polling import ONE_POST, two_posts


@pytest.fixture
def source(feed_server, make_source):
    """A source whose baseline poll ran while the broker was up."""
    feed_server.serve("/feed.xml", ONE_POST)
    source = make_source()
    with TestCase.captureOnCommitCallbacks(execute=True):
        services.source_poll(source_id=source.pk)
    return source


def _waiting(task: str) -> list:
    return list(OutboxTask.objects.filter(task=task).order_by("id").values_list("args", flat=True))


def test_it_keeps_a_new_sources_first_poll_waiting_in_the_outbox(redis_down, make_source, feed_server):
    feed_server.serve("/feed.xml", ONE_POST)
    with TestCase.captureOnCommitCallbacks(execute=True):
        source = make_source()
    assert _waiting("integrations.cms.tasks.poll_source") == [[source.pk]]


def test_it_keeps_due_polls_waiting_in_the_outbox(redis_down, source, make_source):
    other = make_source(name="Other blog")
    ContentSource.objects.update(next_poll_at=timezone.now())
    assert tasks.poll_due_sources() == 2
    assert sorted(_waiting("integrations.cms.tasks.poll_source")) == sorted([[source.pk], [other.pk]])


def test_it_keeps_new_posts_waiting_in_the_outbox_until_the_broker_is_back(redis_down, source, feed_server):
    feed_server.serve("/feed.xml", two_posts())
    with TestCase.captureOnCommitCallbacks(execute=True):
        result = services.source_poll(source_id=source.pk)
    assert result.ok and result.new_items == 1
    item = source.items.get(guid="new-2")
    assert item.status == ItemStatus.NEW
    assert _waiting("integrations.cms.tasks.process_item") == [[item.pk]]


def test_it_keeps_retried_items_waiting_in_the_outbox(redis_down, source):
    item = source.items.get()
    item.status = ItemStatus.FAILED
    item.save()
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert services.items_retry(source=source) == 1
    assert _waiting("integrations.cms.tasks.process_item") == [[item.pk]]
