"""Prometheus metrics of our own (django-prometheus has the request ones; integrations/http.py the
provider calls). In multiprocess mode every process writes its own file and /metrics sums them."""

from prometheus_client import Counter, Histogram

TASK_RUNS = Counter("celery_task_runs", "Celery task runs by final state.", ["task", "state"])
TASK_DURATION = Histogram(
    "celery_task_duration_seconds",
    "Time a Celery task ran.",
    ["task"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, float("inf")),
)
PUBLISHES = Counter("publishes", "Campaign runs finished, by destination kind and outcome.", ["destination", "outcome"])
TRIGGER_EVENTS = Counter("trigger_events", "Trigger events by outcome (matched, not_matched).", ["outcome"])
