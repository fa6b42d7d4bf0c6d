"""Where a run publishes. Integrations register a resolver; the engine asks for the campaign's.

A destination's ``publish`` returns a StepOutcome: done (with a detail), or waiting for an
outside system to call back (n8n). It raises StepFailed for a final failure and RetryLater for
a transient one.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from .models import Campaign, CampaignExecution, ErrorCategory, ExecutionStep


@dataclass
class StepOutcome:
    detail: str
    waiting: bool = False
    skipped: bool = False


class StepFailed(Exception):
    def __init__(self, message: str, *, category: str = ErrorCategory.PROVIDER) -> None:
        super().__init__(message)
        self.message = message
        self.category = category


class RetryLater(Exception):
    """A transient failure: run the execution again after ``countdown`` seconds."""

    def __init__(self, message: str, *, countdown: float = 30) -> None:
        super().__init__(message)
        self.message = message
        self.countdown = countdown


class Destination(Protocol):
    label: str

    def publish(self, *, execution: CampaignExecution, step: ExecutionStep, caption: str) -> StepOutcome: ...


@dataclass
class _Registry:
    resolvers: list[Callable[[Campaign], Destination | None]] = field(default_factory=list)


_registry = _Registry()


def register(resolver: Callable[[Campaign], Destination | None]) -> None:
    if resolver not in _registry.resolvers:
        _registry.resolvers.append(resolver)


def destination_for(campaign: Campaign) -> Destination | None:
    for resolver in _registry.resolvers:
        destination = resolver(campaign)
        if destination is not None:
            return destination
    return None
