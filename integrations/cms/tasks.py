from celery import shared_task

from . import services


@shared_task
def poll_due_sources() -> int:
    """Beat: hands every source due a poll to a worker of its own, so one slow site holds up no other."""
    ids = services.sources_claim_due()
    for source_id in ids:
        poll_source.delay(source_id)
    return len(ids)


@shared_task(ignore_result=True)
def poll_source(source_id: int) -> None:
    services.source_poll(source_id=source_id)


@shared_task(ignore_result=True)
def process_item(item_id: int) -> None:
    services.item_process(item_id=item_id)
