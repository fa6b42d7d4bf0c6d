from celery import shared_task

from . import runs


@shared_task
def expire_waiting_runs() -> int:
    """Every few minutes (beat): fail runs that n8n never called back, saying what n8n knows."""
    return runs.waiting_runs_expire()
