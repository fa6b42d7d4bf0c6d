"""Idempotency keys: a request repeated with the same key gets the first answer, and its work is done once.

The key's row is inserted in the same transaction as the work. A second request with the same key
waits on the unique index until the first commits, then reads the stored answer (on PostgreSQL;
SQLite's immediate transactions serialise the two). If the work raises, the transaction rolls back
with the key, so a retry runs again. Keys are kept for ``KEEP`` and then pruned.
"""

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from .models import IdempotencyKey, Workspace

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
KEEP = timedelta(hours=24)


class KeyReused(Exception):
    """The key was first used for a different request (another path or body)."""


class BadKey(Exception):
    pass


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict
    replayed: bool = False


def fingerprint(*parts: str | bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part if isinstance(part, bytes) else part.encode())
        digest.update(b"\0")
    return digest.hexdigest()


def check_key(key: str) -> str:
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise BadKey(f"The {HEADER} must be 1 to {MAX_KEY_LENGTH} printable characters.")
    return key


def once(*, workspace: Workspace, key: str, fingerprint: str, work: Callable[[], Answer]) -> Answer:
    """Runs ``work`` the first time ``key`` is seen in the workspace and stores its answer; returns the
    stored answer on a repeat. Raises KeyReused when the key came with another request first."""
    with transaction.atomic():
        try:
            with transaction.atomic():
                row = IdempotencyKey.objects.create(
                    workspace=workspace, key=key, fingerprint=fingerprint, status_code=0, body={}
                )
        except IntegrityError:
            row = None
        if row is None:
            stored = IdempotencyKey.objects.get(workspace=workspace, key=key)
            if stored.fingerprint != fingerprint:
                raise KeyReused(f"This {HEADER} was already used for a different request.")
            return Answer(status=stored.status_code, body=stored.body, replayed=True)
        answer = work()
        row.status_code, row.body = answer.status, json.loads(json.dumps(answer.body, default=str))
        row.save(update_fields=["status_code", "body"])
        return answer


def prune() -> int:
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=timezone.now() - KEEP).delete()
    return deleted
