import secrets
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator
from django.db import models
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Campaign, CampaignExecution
from campaigns.recurrence import validate_cron, zone
from integrations.crypto import EncryptedTextField
from marketing.models import Workspace

from .evaluation import CompiledRules, compile_rules, validate_rules

MAX_COOLDOWN_SECONDS = 86_400


def new_token() -> str:
    """The secret part of a trigger's inbound URL: 43 URL-safe characters, 256 random bits."""
    return secrets.token_urlsafe(32)


class TriggerKind(models.TextChoices):
    MANUAL = "manual", "Manual"
    TIME = "time", "Time"
    EVENT = "event", "Webhook event"
    CONDITIONAL = "conditional", "Conditional event"


EVENT_KINDS = (TriggerKind.EVENT, TriggerKind.CONDITIONAL)


class Trigger(models.Model):
    """Starts one or more campaigns: by hand, on a cron, or when an outside system posts an event."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="triggers")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=TriggerKind.choices, default=TriggerKind.EVENT)
    campaigns = models.ManyToManyField(Campaign, blank=True, related_name="triggers")
    enabled = models.BooleanField(default=True)
    cooldown = models.PositiveIntegerField(
        default=0,
        validators=[MaxValueValidator(MAX_COOLDOWN_SECONDS)],
        help_text="Seconds after firing during which the trigger does not fire again (0 to 86,400).",
    )
    last_fired_at = models.DateTimeField(null=True, blank=True)
    # Time triggers.
    cron = models.CharField(max_length=100, blank=True)
    timezone = models.CharField(max_length=64, blank=True, help_text="IANA time zone; the workspace's when empty.")
    next_fire_at = models.DateTimeField(null=True, blank=True)
    # Event and conditional triggers.
    token = models.CharField(max_length=64, unique=True, default=new_token, editable=False)
    signing_secret = EncryptedTextField(blank=True, editable=False)
    signing_secret_set_at = models.DateTimeField(null=True, blank=True, editable=False)
    rules = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        indexes = [
            models.Index(fields=["workspace", "name"], name="trigger_ws_name"),
            models.Index(fields=["kind", "enabled", "next_fire_at"], name="trigger_due"),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("trigger_detail", args=[self.pk])

    def clean(self) -> None:
        errors: dict[str, list[str]] = {}
        if self.kind == TriggerKind.TIME:
            if not self.cron:
                errors.setdefault("cron", []).append("A time trigger needs a cron expression or a preset.")
            else:
                try:
                    self.cron = validate_cron(self.cron)
                except ValidationError as error:
                    errors.setdefault("cron", []).extend(error.messages)
        if self.timezone:
            try:
                zone(self.timezone)
            except ValidationError as error:
                errors.setdefault("timezone", []).extend(error.messages)
        try:
            self.rules = validate_rules(self.rules, required=self.kind == TriggerKind.CONDITIONAL)
        except ValidationError as error:
            errors.setdefault("rules", []).extend(error.messages)
        if errors:
            raise ValidationError(errors)

    @property
    def accepts_events(self) -> bool:
        return self.kind in EVENT_KINDS

    @property
    def signing_secret_lost(self) -> bool:
        """A secret was set but cannot be decrypted (its key is no longer configured): the
        field then reads empty, and the intake must refuse events rather than take them unsigned."""
        return self.signing_secret_set_at is not None and not self.signing_secret

    @property
    def has_rules(self) -> bool:
        return self.kind == TriggerKind.CONDITIONAL

    def compiled_rules(self) -> CompiledRules:
        """The rules ready to evaluate events, compiled once per rules object this instance holds."""
        rules = self.rules if self.has_rules else None
        cached = self.__dict__.get("_compiled")
        if cached is None or cached.rules is not rules:
            cached = self.__dict__["_compiled"] = compile_rules(rules)
        return cached

    @property
    def effective_timezone(self) -> str:
        return self.timezone or self.workspace.timezone

    @property
    def inbound_url(self) -> str:
        return settings.PUBLIC_BASE_URL + reverse("trigger_hook", args=[self.token])


class RejectionReason(models.TextChoices):
    RATE_LIMITED = "rate_limited", "Too many requests"
    DISABLED = "disabled", "Trigger disabled"
    CONTENT_TYPE = "content_type", "Not application/json"
    TOO_LARGE = "too_large", "Body too large"
    BAD_SIGNATURE = "bad_signature", "Missing or wrong signature"
    REPLAYED = "replayed", "Replayed signed request"
    NOT_JSON = "not_json", "Not valid JSON"
    SECRET_LOST = "secret_lost", "Signing secret unreadable"


class TriggerRejection(models.Model):
    """How many inbound requests a trigger turned away, per reason. The bodies are never kept."""

    trigger = models.ForeignKey(Trigger, on_delete=models.CASCADE, related_name="rejections")
    reason = models.CharField(max_length=16, choices=RejectionReason.choices)
    count = models.PositiveBigIntegerField(default=0)
    last_at = models.DateTimeField()

    class Meta:
        ordering = ["reason"]
        constraints = [models.UniqueConstraint(fields=["trigger", "reason"], name="trigger_rejection_unique_reason")]

    def __str__(self) -> str:
        return f"{self.trigger}: {self.count} × {self.reason}"


class EventSource(models.TextChoices):
    EVENT = "event", "Webhook"
    MANUAL = "manual", "Fired by hand"
    TIME = "time", "Time"


class SkipReason(models.TextChoices):
    NOT_MATCHED = "not_matched", "Rules not matched"
    COOLDOWN = "cooldown", "In cooldown"
    DISABLED = "disabled", "Trigger disabled"
    NO_CAMPAIGNS = "no_campaigns", "No campaign to run"


class TriggerRuleSet(models.Model):
    """A trigger's rules as events were checked against them. An event from rules stores their
    digest (``evaluation.rules_digest``) rather than its reasons, which are worked out again from
    these rules and the event's payload when shown: the rules may have changed since."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    # No index of its own: trigger_rule_set_once (trigger, digest) serves it.
    trigger = models.ForeignKey(Trigger, on_delete=models.CASCADE, related_name="rule_sets", db_index=False)
    digest = models.CharField(max_length=64)
    rules = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["trigger", "digest"], name="trigger_rule_set_once")]

    def __str__(self) -> str:
        return f"{self.trigger} rules {self.digest[:8]}"


class TriggerEvent(models.Model):
    """One evaluation of a trigger: what arrived, the decision and why, and the runs it started."""

    # The id senders see, made when the event arrives: a buffered event has no row id yet, and
    # writing a buffered batch twice must not store it twice.
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # No index of its own: trigger_event_workspace_time (workspace, received_at) serves it.
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="trigger_events", db_index=False)
    # No index of its own: trigger_event_recent (trigger, -received_at) serves lookups by trigger.
    trigger = models.ForeignKey(Trigger, on_delete=models.CASCADE, related_name="events", db_index=False)
    # Set when the event arrives, not when its row is written (later, for a buffered event).
    received_at = models.DateTimeField(default=timezone.now, editable=False)
    source = models.CharField(max_length=16, choices=EventSource.choices)
    # JSON null arrives as None and is stored as SQL NULL.
    payload = models.JSONField(default=dict, blank=True, null=True)
    decision = models.JSONField(default=dict, blank=True)
    matched = models.BooleanField(default=False)
    fired = models.BooleanField(default=False)
    skipped_reason = models.CharField(max_length=16, choices=SkipReason.choices, blank=True)
    note = models.CharField(max_length=500, blank=True)
    # The cron time a time trigger fired for: at most one event per (trigger, planned time).
    planned_for = models.DateTimeField(null=True, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    executions = models.ManyToManyField(CampaignExecution, blank=True, related_name="trigger_events")

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [
            models.Index(fields=["trigger", "-received_at"], name="trigger_event_recent"),
            # The workspace's events in a range (its monitoring page): the range, not the log.
            models.Index(fields=["workspace", "received_at"], name="trigger_event_workspace_time"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["trigger", "planned_for"],
                condition=models.Q(planned_for__isnull=False),
                name="trigger_event_once_per_planned_time",
            )
        ]

    def __str__(self) -> str:
        return f"{self.trigger} event {self.pk} ({'fired' if self.fired else self.skipped_reason or 'not fired'})"
