"""JSON log lines carrying the current request's id, user and workspace.

The middleware fills the context variables; Celery tasks may fill them too. The filter copies
them onto every record, so any logger in the project gets them without passing ``extra``.
"""

import logging
import re
from contextvars import ContextVar

from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
user_id_var: ContextVar[int | None] = ContextVar("user_id", default=None)
workspace_id_var: ContextVar[int | None] = ContextVar("workspace_id", default=None)


# URL paths whose last part is a secret: whoever has it can act. Logs keep the path, not the secret.
_SECRET_PATHS = re.compile(
    r"(?P<prefix>/hooks/triggers/|/invite/|/accounts/confirm-email/|/accounts/password/reset/key/|/media/p/)"
    r"(?P<secret>[^/\s?#\"']+)"
)
REDACTED = "[redacted]"


def redact(text: str) -> str:
    """``text`` with the secret part of every trigger, invitation, email-confirmation,
    password-reset and public-image path replaced by ``[redacted]``."""
    return _SECRET_PATHS.sub(lambda match: match["prefix"] + REDACTED, text)


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
        # Every string field, the message and tracebacks included: a secret URL can turn up anywhere.
        for key, value in log_record.items():
            if isinstance(value, str):
                log_record[key] = redact(value)
        # Records that bypassed the filter (third-party handlers) still get the context.
        log_record.setdefault("request_id", getattr(record, "request_id", request_id_var.get()))
        for key in ("user_id", "workspace_id"):
            value = getattr(record, key, None)
            if value is not None:
                log_record[key] = value
