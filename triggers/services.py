"""Writes on triggers: create and edit, fire, receive events, count rejections, run time triggers.

Pages, the JSON API, the admin and the Celery task all come through here.
"""

import logging
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from prometheus_client import Counter

from campaigns.models import Campaign, CampaignExecution, CampaignStatus, ExecutionSource
from campaigns.recurrence import next_runs
from billing.plans import Limit
from billing.services import limit_check
from campaigns.executions import execution_create
from marketing import ratelimit
from marketing.webhooks import payload as webhook_payload
from marketing.webhooks import signature
from marketing.models import User, Workspace
from monitoring import hooks as monitoring_hooks

from . import event_buffer
from .evaluation import RULE_SET_KEY, Decision, rules_digest
from .selectors import trigger_token_forget
from .models import (
    EventSource,
    RejectionReason,
    SkipReason,
    Trigger,
    TriggerEvent,
    TriggerRuleSet,
    TriggerKind,
    TriggerRejection,
    new_token,
)

logger = logging.getLogger(__name__)

REJECTIONS = Counter(
    "trigger_event_rejections_total",
    "Inbound trigger events turned away, by reason (unknown_token included).",
    ["reason"],
)

# Campaigns a trigger leaves alone: archived ones cannot run, paused ones wait for a person.
NOT_TRIGGERABLE = (CampaignStatus.ARCHIVED, CampaignStatus.PAUSED)
MAX_BODY_BYTES = webhook_payload.DEFAULT_MAX_BYTES
SIGNATURE_HEADER = signature.HEADER
HOOK_RATE_SCOPE = "trigger-hook"
# An unreadable signing secret comes back when an operator restores its key: senders retry.
SECRET_LOST_RETRY_SECONDS = 300


# Create, edit, delete --------------------------------------------------------------------------


def _set_campaigns(trigger: Trigger, campaigns: Iterable[Campaign]) -> None:
    campaigns = list(campaigns)
    if any(campaign.workspace_id != trigger.workspace_id for campaign in campaigns):
        raise ValidationError({"campaigns": ["A trigger only starts campaigns of its own workspace."]})
    trigger.campaigns.set(campaigns)


def plan_next_fire(trigger: Trigger, *, after: datetime | None = None) -> None:
    """Sets next_fire_at from the cron for an enabled time trigger; clears it otherwise."""
    if trigger.kind == TriggerKind.TIME and trigger.enabled and trigger.cron:
        runs = next_runs(cron=trigger.cron, tz=trigger.effective_timezone, after=after or timezone.now(), count=1)
        trigger.next_fire_at = runs[0] if runs else None
    else:
        trigger.next_fire_at = None


EDITABLE_FIELDS = ("name", "kind", "enabled", "cooldown", "cron", "timezone", "rules")


def _forget(*tokens: str) -> None:
    """Drops the cached token lookups now, and again after commit, so that no request that read
    the database before the commit leaves the old values cached."""
    trigger_token_forget(*tokens)
    transaction.on_commit(lambda: trigger_token_forget(*tokens))


@transaction.atomic
def trigger_create(
    *,
    workspace: Workspace,
    by: User | None,
    name: str,
    kind: str,
    campaigns: Iterable[Campaign] = (),
    enabled: bool = True,
    cooldown: int = 0,
    cron: str = "",
    timezone: str = "",
    rules: dict | None = None,
) -> Trigger:
    """Creates a trigger; a time trigger gets its first fire time from its cron."""
    if enabled:
        limit_check(workspace=workspace, limit=Limit.ACTIVE_TRIGGERS)
    trigger = Trigger(
        workspace=workspace,
        name=name,
        kind=kind,
        enabled=enabled,
        cooldown=cooldown,
        cron=cron,
        timezone=timezone,
        rules=rules or {},
        created_by=by,
    )
    trigger.full_clean()
    plan_next_fire(trigger)
    trigger.save()
    _set_campaigns(trigger, campaigns)
    _forget(trigger.token)
    return trigger


@transaction.atomic
def trigger_update(*, trigger: Trigger, by: User | None, campaigns: Iterable[Campaign] | None = None, **fields) -> Trigger:
    """Changes a trigger; a new cron, zone or re-enabling plans the next fire time afresh."""
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise TypeError(f"trigger_update() cannot change {', '.join(sorted(unknown))}")
    before = (trigger.kind, trigger.enabled, trigger.cron, trigger.timezone)
    if fields.get("enabled") and not trigger.enabled:
        limit_check(workspace=trigger.workspace_id, limit=Limit.ACTIVE_TRIGGERS)
    for name, value in fields.items():
        setattr(trigger, name, value)
    trigger.full_clean()
    # Only the fields changed here are written: last_fired_at and next_fire_at belong to the
    # compare-and-set claims, and a copy loaded before a claim must not undo it.
    update_fields = [*fields, "updated_at"]
    if (trigger.kind, trigger.enabled, trigger.cron, trigger.timezone) != before or (
        trigger.kind == TriggerKind.TIME and trigger.enabled and trigger.next_fire_at is None
    ):
        plan_next_fire(trigger)
        update_fields.append("next_fire_at")
    trigger.save(update_fields=update_fields)
    if campaigns is not None:
        _set_campaigns(trigger, campaigns)
    _forget(trigger.token)
    return trigger


def trigger_set_enabled(*, trigger: Trigger, enabled: bool, by: User | None) -> Trigger:
    return trigger_update(trigger=trigger, by=by, enabled=enabled)


@transaction.atomic
def trigger_delete(*, trigger: Trigger, by: User | None) -> None:
    trigger.delete()
    _forget(trigger.token)


def trigger_regenerate_token(*, trigger: Trigger, by: User | None) -> Trigger:
    """A new inbound URL; the old one answers 404 from now on."""
    old = trigger.token
    trigger.token = new_token()
    Trigger.objects.filter(pk=trigger.pk).update(token=trigger.token, updated_at=timezone.now())
    _forget(old, trigger.token)
    return trigger


def trigger_set_signing_secret(*, trigger: Trigger, by: User | None) -> str:
    """A new HMAC secret, returned once for the page to show; from now on events must be signed."""
    secret = "whsec_" + secrets.token_urlsafe(32)
    trigger.signing_secret = secret
    trigger.signing_secret_set_at = timezone.now()
    trigger.save(update_fields=["signing_secret", "signing_secret_set_at", "updated_at"])
    _forget(trigger.token)
    return secret


def trigger_remove_signing_secret(*, trigger: Trigger, by: User | None) -> Trigger:
    trigger.signing_secret = ""
    trigger.signing_secret_set_at = None
    trigger.save(update_fields=["signing_secret", "signing_secret_set_at", "updated_at"])
    _forget(trigger.token)
    return trigger


# Firing ----------------------------------------------------------------------------------------


def _claim(trigger: Trigger, now: datetime) -> bool:
    """Compare-and-set on last_fired_at: of two events at once, only one gets through a cooldown."""
    claim = Trigger.objects.filter(pk=trigger.pk, enabled=True)
    if trigger.cooldown:
        claim = claim.filter(Q(last_fired_at__isnull=True) | Q(last_fired_at__lte=now - timedelta(seconds=trigger.cooldown)))
    if not claim.update(last_fired_at=now):
        return False
    trigger.last_fired_at = now
    return True


def _fire(trigger: Trigger, event: TriggerEvent, *, by: User | None, now: datetime) -> list[CampaignExecution]:
    """Starts the trigger's campaigns for a matched event, inside the caller's transaction."""
    chosen = list(trigger.campaigns.order_by("pk"))
    campaigns = [c for c in chosen if c.status not in NOT_TRIGGERABLE]
    skipped = [c.name for c in chosen if c.status in NOT_TRIGGERABLE]
    notes = [f"Left out (paused or archived): {', '.join(skipped)}."] if skipped else []
    executions: list[CampaignExecution] = []
    if not campaigns:
        event.skipped_reason = SkipReason.NO_CAMPAIGNS
    elif not _claim(trigger, now):
        trigger.refresh_from_db(fields=["enabled", "last_fired_at"])
        if not trigger.enabled:
            event.skipped_reason = SkipReason.DISABLED
        else:
            event.skipped_reason = SkipReason.COOLDOWN
            if trigger.last_fired_at:
                wait = trigger.last_fired_at + timedelta(seconds=trigger.cooldown) - now
                ago = int((now - trigger.last_fired_at).total_seconds())
                notes.append(f"Fired {ago} s ago; the cooldown ends in {max(0, int(wait.total_seconds()))} s.")
    else:
        for campaign in campaigns:
            try:
                executions.append(execution_create(campaign=campaign, source=ExecutionSource.TRIGGER, by=by))
            except ValidationError as error:
                notes.append(f"{campaign.name}: {' '.join(error.messages)}")
        event.fired = bool(executions)
        if executions:
            event.executions.add(*executions)
        else:
            event.skipped_reason = SkipReason.NO_CAMPAIGNS
    event.note = " ".join(notes)[:500]
    event.save(update_fields=["fired", "skipped_reason", "note"])
    return executions


def _new_event(
    trigger: Trigger,
    *,
    source: str,
    payload,
    decision: Decision,
    by: User | None = None,
    planned_for: datetime | None = None,
) -> TriggerEvent:
    return TriggerEvent(
        workspace_id=trigger.workspace_id,
        trigger=trigger,
        source=source,
        payload=payload,
        decision=decision.stored() if _rules_kept(trigger, decision) else decision.as_dict(),
        matched=decision.matched,
        skipped_reason="" if decision.matched else SkipReason.NOT_MATCHED,
        planned_for=planned_for,
        requested_by=by,
    )


def _store(trigger: Trigger, event: TriggerEvent, *, by: User | None = None) -> TriggerEvent:
    """Writes the event; a matched one starts the campaigns, inside the caller's transaction."""
    event.save(force_insert=True)
    if event.matched:
        _fire(trigger, event, by=by, now=event.received_at)
    return event


def _record(trigger: Trigger, *, decision: Decision, by: User | None = None, **fields) -> TriggerEvent:
    return _store(trigger, _new_event(trigger, decision=decision, by=by, **fields), by=by)


def trigger_decide(*, trigger: Trigger, payload) -> Decision:
    """The decision for a payload without storing or running anything: the "test" box uses it."""
    return trigger.compiled_rules()(payload)


@dataclass(frozen=True, slots=True)
class ReceivedEvent:
    """What the sender of an accepted event is told. A buffered event has no row yet, so this
    is not a TriggerEvent: its UUID is the one its row will carry."""

    uuid: uuid.UUID
    matched: bool
    fired: bool
    skipped_reason: str
    # The UUIDs of the runs the event started.
    executions: tuple[str, ...] = ()

    @classmethod
    def stored(cls, event: TriggerEvent) -> "ReceivedEvent":
        executions = tuple(str(u) for u in event.executions.values_list("uuid", flat=True)) if event.fired else ()
        return cls(event.uuid, event.matched, event.fired, event.skipped_reason, executions)


def _rules_kept(trigger: Trigger, decision: Decision) -> bool:
    """Whether the rules ``decision`` came from are kept as a TriggerRuleSet of ``trigger``, so
    that the event may store their digest instead of its reasons (``Decision.stored_json``).

    Made sure of once per compiled rule set in this process (the token lookup's entry, renewed
    every few seconds), not once per event. While the database cannot be reached the event
    keeps its reasons, so that an event buffered meanwhile loses nothing."""
    compiled = decision.compiled
    if compiled is None:
        return False
    if compiled.kept_for != trigger.pk:
        try:
            TriggerRuleSet.objects.get_or_create(
                trigger_id=trigger.pk,
                digest=compiled.digest,
                defaults={"workspace_id": trigger.workspace_id, "rules": compiled.rules},
            )
        except IntegrityError:
            raise  # The trigger was deleted: as for the event itself (the view answers 404).
        except DatabaseError:
            logger.warning("trigger rules not kept: the event keeps its reasons", exc_info=True)
            return False
        compiled.kept_for = trigger.pk
    return True


def _unmatched_row(trigger: Trigger, *, event_uuid: uuid.UUID, payload: dict, decision: Decision) -> event_buffer.Row:
    """The buffer's row for an inbound event that matched nothing: what ``_new_event`` would
    store, without building the model instance."""
    return event_buffer.Row(
        uuid=event_uuid.hex,
        workspace_id=trigger.workspace_id,
        trigger_id=trigger.pk,
        received_at=timezone.now().isoformat(),
        source=EventSource.EVENT,
        matched=False,
        skipped_reason=SkipReason.NOT_MATCHED,
        payload=event_buffer.to_json(payload),
        decision=decision.stored_json() if _rules_kept(trigger, decision) else decision.as_json(),
    )


def trigger_event_receive(
    *, trigger: Trigger, payload, sender: str | None = None, signed: signature.Verified | None = None
) -> ReceivedEvent:
    """Stores an accepted inbound event with its decision; a match starts the campaigns.

    ``sender`` (the URL's token) counts the event under TRIGGER_EVENT_RATE first, and
    Rejected(429) refuses it past the limit. ``signed``, the request's verified signature, is
    then recorded as used, and Rejected(409) refuses a replay; if the event is not taken after
    all, the record is dropped so that the sender may send it again. A match stores the event,
    claims the cooldown and queues the runs in one transaction. An event that does not match
    only needs its row, and most events are of that kind: with Redis it is counted, its
    signature recorded and its row buffered in one round trip, and the row written in a batch
    soon after (see event_buffer).
    """
    decision = trigger_decide(trigger=trigger, payload=payload)
    outcome = "matched" if decision.matched else "not_matched"
    counted = consumed = False
    if not decision.matched and event_buffer.enabled():
        event_uuid = uuid.uuid4()
        row = _unmatched_row(trigger, event_uuid=event_uuid, payload=payload, decision=decision)
        window = ratelimit.redis_window(scope=HOOK_RATE_SCOPE, key=sender, rate=event_rate()) if sender else None
        unique = (signature.replay_key(signed), signature.REPLAY_SECONDS) if signed else None
        appended = event_buffer.append(row, rate=window, unique=unique)
        if appended.limited:
            raise _rate_limited(appended.retry_after)
        if appended.repeated:
            raise _replay_refused(signature.replayed(), counted=appended.counted)
        if appended.buffered:
            monitoring_hooks.trigger_event(outcome=outcome)
            return ReceivedEvent(event_uuid, matched=False, fired=False, skipped_reason=row.skipped_reason)
        counted, consumed = appended.counted, appended.marked
    if signed and not consumed:
        consume_signature(signed)
    try:
        if sender and not counted:
            hook_rate_check(sender=sender)
        event = _new_event(trigger, source=EventSource.EVENT, payload=payload, decision=decision)
        if decision.matched:
            with transaction.atomic():
                _store(trigger, event)
        else:
            _store(trigger, event)
    except BaseException:
        # Not taken: the sender may send the same signed request again.
        if signed:
            signature.release(signed)
        raise
    monitoring_hooks.trigger_event(outcome=outcome)
    return ReceivedEvent.stored(event)


def event_rate() -> str:
    """Events one trigger URL accepts per window before answering 429."""
    return settings.TRIGGER_EVENT_RATE


def _rate_limited(retry_after: int) -> "Rejected":
    return Rejected(
        429,
        RejectionReason.RATE_LIMITED,
        f"Too many events for this trigger (limit {event_rate()}).",
        retry_after=retry_after,
        counted=True,
    )


def _replay_refused(error: signature.SignatureError, *, counted: bool = False) -> "Rejected":
    return Rejected(409, RejectionReason.REPLAYED, error.message, counted=counted)


def hook_rate_check(*, sender: str) -> None:
    """Counts one request to a trigger URL under TRIGGER_EVENT_RATE; Rejected(429) past it.

    Every request counts, refused ones too. Accepted events that start nothing are counted as
    they are buffered instead (trigger_event_receive).
    """
    verdict = ratelimit.hit(scope=HOOK_RATE_SCOPE, key=sender, rate=event_rate())
    if verdict and verdict.limited:
        raise _rate_limited(verdict.retry_after)


@transaction.atomic
def trigger_fire_manual(*, trigger: Trigger, by: User | None, payload: dict | None = None) -> TriggerEvent:
    """Fires a manual trigger now (the button and the API). The cooldown still applies.

    ``payload``: a JSON object the API's caller sent (``parse_payload``), kept on the event."""
    if trigger.kind != TriggerKind.MANUAL:
        raise ValidationError("Only manual triggers are fired by hand.", code="not_manual")
    if not trigger.enabled:
        raise ValidationError("This trigger is disabled. Enable it first.", code="disabled")
    who = by.email if by else "the system"
    decision = Decision(matched=True, match="all", summary=f"Fired by hand by {who}.")
    return _record(trigger, source=EventSource.MANUAL, payload=payload or {}, decision=decision, by=by)


def time_triggers_fire_due(*, now: datetime | None = None, limit: int = 500) -> int:
    """Fires every enabled time trigger that is due, once per planned time; returns how many fired.

    Each trigger is claimed by moving next_fire_at from the planned time to the next one
    (compare-and-set), so beat ticking twice or two workers running this at once fire it once.
    Runs missed while nothing ran are not replayed: a late trigger fires once, then waits for
    its next time after now.
    """
    now = now or timezone.now()
    due = list(
        Trigger.objects.filter(kind=TriggerKind.TIME, enabled=True, next_fire_at__lte=now)
        .select_related("workspace")
        .order_by("next_fire_at", "pk")[:limit]
    )
    fired = 0
    for trigger in due:
        planned = trigger.next_fire_at
        try:
            runs = next_runs(cron=trigger.cron, tz=trigger.effective_timezone, after=max(now, planned), count=1)
        except ValidationError as error:
            logger.error("time trigger has a bad cron or zone", extra={"trigger_id": trigger.pk, "error": str(error)})
            Trigger.objects.filter(pk=trigger.pk, next_fire_at=planned).update(next_fire_at=None)
            continue
        upcoming = runs[0] if runs else None
        try:
            with transaction.atomic():
                if not Trigger.objects.filter(pk=trigger.pk, next_fire_at=planned).update(next_fire_at=upcoming):
                    continue  # Someone else claimed this planned time.
                trigger.next_fire_at = upcoming
                decision = Decision(matched=True, match="all", summary=f"Cron {trigger.cron} in {trigger.effective_timezone}.")
                event = _record(
                    trigger,
                    source=EventSource.TIME,
                    payload={"planned_for": planned.isoformat()},
                    decision=decision,
                    planned_for=planned,
                )
        except IntegrityError:
            # The event for this planned time exists already: the claim raced a manual reset.
            logger.warning("time trigger planned time already fired", extra={"trigger_id": trigger.pk})
            continue
        fired += int(event.fired)
    return fired


# Inbound events --------------------------------------------------------------------------------


class Rejected(Exception):
    """An inbound request turned away: the HTTP status, a machine-readable code and a message.

    ``counted``: the request was already counted under its URL's rate limit."""

    def __init__(self, status: int, reason: str, message: str, *, retry_after: int = 0, counted: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message
        self.retry_after = retry_after
        self.counted = counted


def trigger_events_prune(*, older_than: timedelta, batch: int = 5000) -> int:
    """Deletes events received longer ago than ``older_than``, in batches; the runs they started stay.

    Workspace by workspace, along trigger_event_workspace_time (workspace, received_at), which
    reads only the old events: no index starts with the time, and a search of the whole log for
    old events would read all of it every night, also when none are old. One search per
    workspace with triggers, however many triggers it has."""
    cutoff = timezone.now() - older_than
    deleted = 0
    for workspace_id in list(Trigger.objects.order_by().values_list("workspace_id", flat=True).distinct()):
        while ids := list(
            TriggerEvent.objects.filter(workspace_id=workspace_id, received_at__lt=cutoff).values_list("pk", flat=True)[:batch]
        ):
            TriggerEvent.objects.filter(pk__in=ids).delete()
            deleted += len(ids)
    return deleted


# A rule set made in the last hour is left alone: a process may have made sure of it moments ago
# and go on naming it in events for a few seconds (its compiled rules' cache).
RULE_SET_GRACE = timedelta(hours=1)


def trigger_rule_sets_prune(*, now: datetime | None = None) -> int:
    """Deletes the rule sets no event names any more, once the events that did are pruned; a
    trigger's current rules are kept, as its next event will name them."""
    cutoff = (now or timezone.now()) - RULE_SET_GRACE
    deleted = 0
    candidates = TriggerRuleSet.objects.filter(created_at__lt=cutoff).select_related("trigger").order_by("pk")
    for rule_set in candidates.iterator(chunk_size=500):
        if rule_set.digest == rules_digest(rule_set.trigger.rules or {}):
            continue
        named = TriggerEvent.objects.filter(
            workspace_id=rule_set.workspace_id, trigger_id=rule_set.trigger_id, **{f"decision__{RULE_SET_KEY}": rule_set.digest}
        )
        if not named.exists():
            deleted += TriggerRuleSet.objects.filter(pk=rule_set.pk).delete()[0]
    return deleted


def trigger_count_rejection(*, trigger_id: int | None, reason: str) -> None:
    """Counts a rejected request on its trigger, and in the metrics. The body is not kept.

    The count on the trigger is for people to look at: without a database the refusal still
    stands, uncounted there.
    """
    REJECTIONS.labels(reason=reason).inc()
    monitoring_hooks.trigger_event(outcome=f"rejected:{reason}")
    logger.info("trigger event rejected", extra={"trigger_id": trigger_id, "reason": reason})
    if trigger_id is None:
        return
    try:
        _count_rejection(trigger_id, reason)
    except DatabaseError:
        logger.warning("trigger rejection not counted: the database is unavailable", exc_info=True)


def _count_rejection(trigger_id: int, reason: str) -> None:
    now = timezone.now()
    if TriggerRejection.objects.filter(trigger_id=trigger_id, reason=reason).update(count=F("count") + 1, last_at=now):
        return
    try:
        with transaction.atomic():
            TriggerRejection.objects.create(trigger_id=trigger_id, reason=reason, count=1, last_at=now)
    except IntegrityError:
        # Another request created the row first.
        TriggerRejection.objects.filter(trigger_id=trigger_id, reason=reason).update(count=F("count") + 1, last_at=now)


def check_content_type(content_type: str) -> None:
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type != "application/json" and not (media_type.startswith("application/") and media_type.endswith("+json")):
        raise Rejected(415, RejectionReason.CONTENT_TYPE, "Send the event as JSON with Content-Type: application/json.")


def check_size(length: int) -> None:
    if length > MAX_BODY_BYTES:
        raise Rejected(413, RejectionReason.TOO_LARGE, f"Events are limited to {MAX_BODY_BYTES // 1024} KB.")


def check_signature(*, trigger: Trigger, body: bytes, header: str) -> signature.Verified | None:
    """When the trigger has a secret, requires ``X-Signature: t=…,v1=…`` signed for its token
    (see marketing.webhooks.signature); None when it has none. A secret that cannot be read
    refuses every event (503): the sender is not at fault, and an unsigned event must not pass."""
    if not trigger.signing_secret:
        if trigger.signing_secret_lost:
            raise Rejected(
                503,
                RejectionReason.SECRET_LOST,
                "This trigger's signing secret cannot be read on our side, so the event cannot be verified. "
                "Nothing was stored; send it again later.",
                retry_after=SECRET_LOST_RETRY_SECONDS,
            )
        return None
    try:
        return signature.verify(secret=trigger.signing_secret, target=trigger.token, body=body, header=header)
    except signature.SignatureError as error:
        raise Rejected(401, RejectionReason.BAD_SIGNATURE, error.message) from None


def consume_signature(verified: signature.Verified | None) -> None:
    """Refuses a replay (409) of a signature already accepted; call it just before acting on the event."""
    if verified is None:
        return
    try:
        signature.consume(verified)
    except signature.SignatureError as error:
        raise _replay_refused(error) from None


def parse_payload(body: bytes) -> dict:
    """The event's JSON object, or Rejected(400). Refuses what the database cannot store as JSON."""
    try:
        event = webhook_payload.parse(body, max_bytes=MAX_BODY_BYTES)
    except webhook_payload.PayloadError as error:
        raise Rejected(400, RejectionReason.NOT_JSON, error.message) from None
    if not isinstance(event, dict):
        raise Rejected(400, RejectionReason.NOT_JSON, 'An event is a JSON object, like {"order": {"total": 120}}.')
    return event
