import hashlib
import logging
import re

from cryptography.fernet import InvalidToken
from django.db.models import Count, Prefetch, QuerySet

from campaigns.models import Campaign, CampaignExecution, CampaignStatus
from integrations.crypto import decrypt, encrypt
from marketing.models import Workspace

from . import cache
from .models import EVENT_KINDS, Trigger, TriggerEvent, TriggerKind, TriggerRejection

logger = logging.getLogger(__name__)

_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{20,64}")
# Inbound events look their trigger up in the cache first: the lookup is most of an event's cost.
# Every write through the services forgets the entry; the expiry covers writes that bypass them.
TOKEN_CACHE_SECONDS = 30
_INTAKE_FIELDS = ("pk", "workspace_id", "name", "kind", "enabled", "cooldown", "rules")


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
    its workspace with it. The answer, unknown tokens included, is cached for
    TOKEN_CACHE_SECONDS; the signing secret stays encrypted in the cache. The trigger returned
    holds the fields event intake reads (not ``last_fired_at``: the cooldown is claimed in the
    database).
    """
    if not _TOKEN_SHAPE.fullmatch(token):
        return None
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
            return _thaw(cached, token)
        except InvalidToken:  # Encrypted with a key since retired: read the database again.
            pass
    trigger = Trigger.objects.filter(token=token, kind__in=EVENT_KINDS).first()
    try:
        cache.set(key, _freeze(trigger) if trigger else {}, TOKEN_CACHE_SECONDS)
    except cache.Unavailable:
        logger.warning("trigger token cache unavailable", exc_info=True)
    return trigger


def trigger_token_forget(*tokens: str) -> None:
    """Drops cached lookups after a trigger changed (or its token did)."""
    try:
        cache.delete_many([_token_key(token) for token in tokens if token])
    except cache.Unavailable:  # The entries expire on their own.
        logger.warning("trigger token cache unavailable", exc_info=True)


def _freeze(trigger: Trigger) -> dict:
    frozen = {name: getattr(trigger, name) for name in _INTAKE_FIELDS}
    frozen["signing_secret"] = encrypt(trigger.signing_secret) if trigger.signing_secret else ""
    return frozen


def _thaw(frozen: dict, token: str) -> Trigger:
    fields = {name: frozen[name] for name in _INTAKE_FIELDS}
    secret = decrypt(frozen["signing_secret"]) if frozen["signing_secret"] else ""
    trigger = Trigger(token=token, signing_secret=secret, **fields)
    trigger._state.adding = False
    trigger._state.db = "default"
    return trigger


def trigger_events(*, trigger: Trigger) -> QuerySet[TriggerEvent]:
    return (
        TriggerEvent.objects.filter(trigger=trigger)
        .select_related("requested_by")
        .prefetch_related(
            Prefetch("executions", queryset=CampaignExecution.objects.select_related("campaign").order_by("pk"))
        )
        .order_by("-received_at", "-id")
    )


def trigger_rejections(*, trigger: Trigger) -> list[TriggerRejection]:
    return list(TriggerRejection.objects.filter(trigger=trigger).order_by("-count", "reason"))


def campaign_choices(*, workspace: Workspace, trigger: Trigger | None = None) -> QuerySet[Campaign]:
    """The campaigns a trigger can start: the workspace's, without archived ones unless already chosen."""
    queryset = Campaign.objects.filter(workspace=workspace)
    if trigger is not None and trigger.pk:
        chosen = trigger.campaigns.values("pk")
        return (queryset.exclude(status=CampaignStatus.ARCHIVED) | queryset.filter(pk__in=chosen)).distinct().order_by("name", "id")
    return queryset.exclude(status=CampaignStatus.ARCHIVED).order_by("name", "id")


def conditional_rules(*, workspace: Workspace) -> list[tuple[int, dict]]:
    """(id, rules) of the workspace's enabled conditional triggers, for evaluating one event against all."""
    return list(
        Trigger.objects.filter(workspace=workspace, kind=TriggerKind.CONDITIONAL, enabled=True)
        .order_by("pk")
        .values_list("pk", "rules")
    )
