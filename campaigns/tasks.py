import logging

from celery import shared_task

from . import executions, scheduling, services
from .destinations import RetryLater

logger = logging.getLogger(__name__)


@shared_task(bind=True, acks_late=True, max_retries=None)
def run_execution(self, execution_id: int) -> None:
    """Runs one execution; transient failures come back later, the service bounds the attempts."""
    try:
        executions.execution_run(execution_id=execution_id)
    except RetryLater as retry:
        raise self.retry(countdown=retry.countdown)


@shared_task(acks_late=True)
def generate_image(generation_id: int) -> None:
    services.image_generation_run(generation_id=generation_id)


@shared_task
def recover_stale_executions() -> int:
    """Beat: requeues runs and image generations whose task or worker was lost."""
    return executions.execution_recover_stale() + services.image_generation_recover_stale()


@shared_task
def dispatch_due_runs() -> int:
    """Beat: starts the executions of every schedule that is due (safe to run twice at once)."""
    return scheduling.dispatch_due_runs()
