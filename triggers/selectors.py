import hashlib
import logging
import re
import threading
from collections.abc import Iterable
from datetime import datetime

from cachetools import TTLCache
from cryptography.fernet import InvalidToken
from django.db.models import Count, Prefetch, QuerySet
from django.db.models.base import ModelState

from campaigns.models import Campaign, CampaignExecution, CampaignStatus
from integrations.crypto import decrypt, encrypt
from marketing.models import Workspace

from . import cache
from .evaluation import RULE_SET_KEY, compile_rules, shown
from .models import EVENT_KINDS, Trigger, TriggerEvent, TriggerKind, TriggerRejection, TriggerRuleSet

logger = logging.getLogger(__name__)

_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{20,64}")
# Inbound events look their trigger up in the cache first: the lookup is most of an event's cost.
# Every write through the services forgets the entry; the expiry covers writes that bypass them.
TOKEN_CACHE_SECONDS = 30
# Each web process also keeps its lookups this long, sparing a round trip to Redis on every
# event. A change made through the services is seen at once by
# the process that made it and within these seconds by the others.
LOCAL_CACHE_SECONDS = 2
_INTAKE_FIELDS = ("pk", "workspace_id", "name", "kind", "enabled", "cooldown", "rules")
# The secret in the clear, and when it was set: a secret set and read empty cannot be decrypted.
_SIGNING_FIELDS = ("signing_secret", "signing_secret_set_at")
_UNKNOWN = object()
_local: TTLCache = TTLCache(maxsize=10_000, ttl=LOCAL_CACHE_SECONDS)
_local_lock = threading.Lock()


def trigger_list(*, workspace: Workspace) -> QuerySet[Trigger]:
    return Trigger.objects.filter(workspace=workspace).annotate(campaign_count=Count("campaigns")).order_by("name", "id")


def trigger_for_detail(*, workspace: Workspace) -> QuerySet[Trigger]:
    return (
        Trigger.objects.filter(workspace=workspace)
        .select_related("workspace", "created_by")
        .prefetch_related(Prefetch("campaigns", queryset=Campaign.objects.order_by("name", "id")))
    )


def _token_key(token: str) -> str:
    # A digest, so that the cache never holds the URL's secret.
    return "token:" + hashlib.sha256(token.encode()).hexdigest()


def trigger_by_token(*, token: str) -> Trigger | None:
    """The event trigger an inbound URL's token names, or None.

    Not scoped to a workspace: the token is the credential, and the trigger it finds carries
    its workspace with it. The answer, unknown tokens included, is cached in Redis for
    TOKEN_CACHE_SECONDS with the signing secret encrypted, and in this process for
    LOCAL_CACHE_SECONDS. The trigger returned is the caller's own (its ``rules`` are shared:
    read them, never change them) and holds the fields event intake reads; the others (such as
    ``last_fired_at``: the cooldown is claimed in the database) are deferred.
    """
    if not _TOKEN_SHAPE.fullmatch(token):
        return None
    with _local_lock:
        entry = _local.get(token, _UNKNOWN)
    if entry is _UNKNOWN:
        entry = _local_entry(token, _shared_lookup(token))
        with _local_lock:
            _local[token] = entry
    return None if entry is None else _own_copy(entry)


def _own_copy(entry: Trigger) -> Trigger:
    """A copy of a kept trigger for one caller to change, as ``copy.copy`` makes it (through
    Model.__getstate__: the values, a state of its own with its own cache of related objects)
    at a sixth of the cost: 1 us against 6.7 for the pickling protocol's detour."""
    trigger = Trigger.__new__(Trigger)
    trigger.__dict__.update(entry.__dict__)
    state = trigger._state = ModelState()
    state.db, state.adding = entry._state.db, entry._state.adding
    state.fields_cache = entry._state.fields_cache.copy()
    return trigger


def _local_entry(token: str, fields: dict | None) -> Trigger | None:
    """What this process keeps of a lookup: the trigger as loaded from the database with the
    intake's fields (the others are deferred, read from the database if anything asks), and
    its rules compiled once per entry rather than once per event (see Trigger.compiled_rules)."""
    if fields is None:
        return None
    by_name = {"token": token, "id": fields["pk"], **fields}
    names = [f.attname for f in Trigger._meta.concrete_fields if f.attname in by_name]
    trigger = Trigger.from_db("default", names, [by_name[name] for name in names])
    trigger.__dict__["_compiled"] = compile_rules(fields["rules"] if fields["kind"] == TriggerKind.CONDITIONAL else None)
    return trigger


def _shared_lookup(token: str) -> dict | None:
    """The intake fields (signing secret in the clear) from the Redis cache or the database."""
    key = _token_key(token)
    try:
        cached = cache.get(key)
    except cache.Unavailable:  # Without a cache, the database answers.
        logger.warning("trigger token cache unavailable", exc_info=True)
        cached = None
    if cached is not None:
        if not cached:
            return None
        try:
            return _thawed(cached)
        except InvalidToken:  # Encrypted with a key since retired: read the database again.
            pass
    trigger = Trigger.objects.filter(token=token, kind__in=EVENT_KINDS).only(*_INTAKE_FIELDS, *_SIGNING_FIELDS).first()
    fields = {name: getattr(trigger, name) for name in (*_INTAKE_FIELDS, *_SIGNING_FIELDS)} if trigger else None
    try:
        cache.set(key, _frozen(fields) if fields else {}, TOKEN_CACHE_SECONDS)
    except cache.Unavailable:
        logger.warning("trigger token cache unavailable", exc_info=True)
    return fields


def _frozen(fields: dict) -> dict:
    """The lookup as the shared cache keeps it: JSON, the secret encrypted."""
    secret, set_at = fields["signing_secret"], fields["signing_secret_set_at"]
    return {**fields, "signing_secret": encrypt(secret) if secret else "", "signing_secret_set_at": set_at.isoformat() if set_at else None}


def _thawed(cached: dict) -> dict:
    secret, set_at = cached["signing_secret"], cached.get("signing_secret_set_at")
    return {
        **cached,
        "signing_secret": decrypt(secret) if secret else "",
        "signing_secret_set_at": datetime.fromisoformat(set_at) if set_at else None,
    }


def trigger_token_forget(*tokens: str) -> None:
    """Drops cached lookups after a trigger changed (or its token did)."""
    with _local_lock:
        for token in tokens:
            _local.pop(token, None)
    try:
        cache.delete_many([_token_key(token) for token in tokens if token])
    except cache.Unavailable:  # The entries expire on their own.
        logger.warning("trigger token cache unavailable", exc_info=True)


def trigger_token_forget_all() -> None:
    """Empties this process's lookups (tests; the Redis entries go with the cache)."""
    with _local_lock:
        _local.clear()


def trigger_events(*, trigger: Trigger) -> QuerySet[TriggerEvent]:
    return (
        TriggerEvent.objects.filter(trigger=trigger)
        .select_related("requested_by")
        .prefetch_related(
            Prefetch("executions", queryset=CampaignExecution.objects.select_related("campaign").order_by("pk"))
        )
        .order_by("-received_at", "-id")
    )


def events_explained(events: Iterable[TriggerEvent]) -> list[TriggerEvent]:
    """The events, each with ``shown_decision``: its decision with its reasons, worked out again
    from the rules it was checked against where it stored their digest. One query for the rule
    sets of them all; the events were loaded scoped, and so are the rule sets, by their triggers."""
    events = list(events)
    digests = {_rule_set_digest(event) for event in events} - {None}
    rules = {}
    if digests:
        rule_sets = TriggerRuleSet.objects.filter(trigger_id__in={event.trigger_id for event in events}, digest__in=digests)
        rules = {(trigger_id, digest): kept for trigger_id, digest, kept in rule_sets.values_list("trigger_id", "digest", "rules")}
    for event in events:
        event.shown_decision = shown(event.decision, payload=event.payload, rules=rules.get((event.trigger_id, _rule_set_digest(event))))
    return events


def _rule_set_digest(event: TriggerEvent) -> str | None:
    return event.decision.get(RULE_SET_KEY) if isinstance(event.decision, dict) else None


def trigger_rejections(*, trigger: Trigger) -> list[TriggerRejection]:
    return list(TriggerRejection.objects.filter(trigger=trigger).order_by("-count", "reason"))


def campaign_choices(*, workspace: Workspace, trigger: Trigger | None = None) -> QuerySet[Campaign]:
    """The campaigns a trigger can start: the workspace's, without archived ones unless already chosen."""
    queryset = Campaign.objects.filter(workspace=workspace)
    if trigger is not None and trigger.pk:
        chosen = trigger.campaigns.values("pk")
        return (queryset.exclude(status=CampaignStatus.ARCHIVED) | queryset.filter(pk__in=chosen)).distinct().order_by("name", "id")
    return queryset.exclude(status=CampaignStatus.ARCHIVED).order_by("name", "id")
