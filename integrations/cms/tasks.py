from celery import shared_task

from marketing import outbox

from . import services


@shared_task
def poll_due_sources() -> int:
    """Beat: hands every source due a poll to a worker of its own, so one slow site holds up no other."""
    ids = services.sources_claim_due()
    # Through the outbox: with the broker down the claimed polls wait there instead of being lost.
    outbox.send_many(poll_source, [(source_id,) for source_id in ids])
    return len(ids)


@shared_task(ignore_result=True)
def poll_source(source_id: int) -> None:
    services.source_poll(source_id=source_id)


@shared_task(ignore_result=True)
def process_item(item_id: int) -> None:
    services.item_process(item_id=item_id)


@shared_task(ignore_result=True)
def recover_stuck_items() -> int:
    """Beat: items whose worker died fail with a reason instead of waiting for ever."""
    return services.items_recover_stuck()
