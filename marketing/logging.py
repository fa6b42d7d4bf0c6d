"""JSON log lines carrying the current request's id, user and workspace.

The middleware fills the context variables; Celery tasks may fill them too. The filter copies
them onto every record, so any logger in the project gets them without passing ``extra``.
"""

import logging
from contextvars import ContextVar

from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
user_id_var: ContextVar[int | None] = ContextVar("user_id", default=None)
workspace_id_var: ContextVar[int | None] = ContextVar("workspace_id", default=None)


class RequestContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in (
            ("request_id", request_id_var),
            ("user_id", user_id_var),
            ("workspace_id", workspace_id_var),
        ):
            if getattr(record, name, None) is None:
                setattr(record, name, var.get())
        return True


class RoutineTaskFilter(logging.Filter):
    """Drops Celery's INFO lines (sent, received, succeeded) about ``tasks`` that beat runs every few
    seconds: they would bury everything else. Their warnings and errors still go through, and
    what they do is counted in /metrics."""

    def __init__(self, tasks: list[str] | tuple[str, ...] = ()) -> None:
        super().__init__()
        self.tasks = tuple(tasks)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.INFO or not record.name.startswith("celery"):
            return True
        message = record.getMessage()
        return not any(task in message for task in self.tasks)


class JsonFormatter(_JsonFormatter):
    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("fmt", "%(asctime)s %(levelname)s %(name)s %(message)s")
        kwargs.setdefault("rename_fields", {"asctime": "time", "levelname": "level", "name": "logger"})
        super().__init__(*args, **kwargs)

    def add_fields(self, log_record: dict, record: logging.LogRecord, message_dict: dict) -> None:
        super().add_fields(log_record, record, message_dict)
        # Records that bypassed the filter (third-party handlers) still get the context.
        log_record.setdefault("request_id", getattr(record, "request_id", request_id_var.get()))
        for key in ("user_id", "workspace_id"):
            value = getattr(record, key, None)
            if value is not None:
                log_record[key] = value
