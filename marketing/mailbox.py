"""A development mailbox: in DEBUG, emails are kept as files and read on a page (/dev/mailbox/),
so verification and invitation links are a click away instead of inside JSON log lines."""

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage as ParsedMessage
from email.utils import parsedate_to_datetime
from pathlib import Path

from django.conf import settings
from django.core.mail.backends.base import BaseEmailBackend

logger = logging.getLogger(__name__)

# The page lists this many, newest first; older files stay on disk under var/mailbox/.
SHOWN = 100


def _directory() -> Path:
    return Path(settings.MAILBOX_DIR)


class MailboxBackend(BaseEmailBackend):
    """Writes each message to MAILBOX_DIR as one .eml file."""

    def send_messages(self, email_messages) -> int:
        directory = _directory()
        directory.mkdir(parents=True, exist_ok=True)
        for message in email_messages:
            name = f"{datetime.now(UTC):%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}.eml"
            (directory / name).write_bytes(message.message().as_bytes())
            logger.info(
                "email kept in the development mailbox",
                extra={"subject": message.subject, "mailbox_url": f"{settings.PUBLIC_BASE_URL}/dev/mailbox/"},
            )
        return len(email_messages)


@dataclass
class Mail:
    id: str
    subject: str
    to: str
    sent_at: datetime | None
    body: str


def _read(path: Path) -> Mail:
    parsed: ParsedMessage = message_from_bytes(path.read_bytes(), policy=policy.default)
    part = parsed.get_body(preferencelist=("plain", "html"))
    try:
        sent_at = parsedate_to_datetime(parsed["Date"]) if parsed["Date"] else None
    except (TypeError, ValueError):
        sent_at = None
    if sent_at is not None and sent_at.tzinfo is None:
        sent_at = sent_at.replace(tzinfo=UTC)  # "-0000": the sender's zone is unknown
    return Mail(
        id=path.stem,
        subject=str(parsed["Subject"] or "(no subject)"),
        to=str(parsed["To"] or ""),
        sent_at=sent_at,
        body=part.get_content() if part is not None else "",
    )


def mail_list() -> list[Mail]:
    directory = _directory()
    if not directory.is_dir():
        return []
    return [_read(path) for path in sorted(directory.glob("*.eml"), reverse=True)[:SHOWN]]


def mail_get(mail_id: str) -> Mail | None:
    # The id is a file name we made; anything else (a path, "..") is simply not found.
    if not mail_id.replace("-", "").isalnum():
        return None
    path = _directory() / f"{mail_id}.eml"
    return _read(path) if path.is_file() else None


def is_enabled() -> bool:
    return settings.DEBUG and settings.EMAIL_BACKEND == "marketing.mailbox.MailboxBackend"
