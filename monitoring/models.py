"""Error groups and samples, rollups for the dashboard, health history, alert rules and alerts."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from marketing.models import Workspace


class GroupStatus(models.TextChoices):
    OPEN = "open", "Open"
    RESOLVED = "resolved", "Resolved"
    IGNORED = "ignored", "Ignored"


class ErrorLevel(models.TextChoices):
    ERROR = "error", "Error"
    WARNING = "warning", "Warning"


class ErrorGroup(models.Model):
    """Every occurrence of one error, by a fingerprint that survives edits elsewhere in the code.

    ``category`` is ``request``, ``task``, ``webhook`` or ``integration:<provider>``. ``times_seen``
    counts every occurrence; only a sample of them is kept as ``ErrorOccurrence`` rows.
    """

    fingerprint = models.CharField(max_length=64, unique=True)
    category = models.CharField(max_length=64, db_index=True)
    level = models.CharField(max_length=16, choices=ErrorLevel.choices, default=ErrorLevel.ERROR)
    title = models.CharField(max_length=300)
    culprit = models.CharField(max_length=300, blank=True)
    status = models.CharField(max_length=16, choices=GroupStatus.choices, default=GroupStatus.OPEN)
    first_seen = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now, db_index=True)
    times_seen = models.BigIntegerField(default=0)
    resolved_at = models.DateTimeField(null=True, blank=True)
    regressed_at = models.DateTimeField(null=True, blank=True)
    # The latest full sample: stack trace and request or task context, scrubbed of secrets.
    sample = models.JSONField(default=dict, blank=True)
    workspaces = models.ManyToManyField(Workspace, blank=True, related_name="+")

    class Meta:
        ordering = ["-last_seen"]

    def __str__(self) -> str:
        return f"[{self.category}] {self.title}"

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("monitoring:error_group", args=[self.pk])


class ErrorOccurrence(models.Model):
    """One sampled occurrence (at most a few per group per minute are written)."""

    group = models.ForeignKey(ErrorGroup, on_delete=models.CASCADE, related_name="occurrences")
    at = models.DateTimeField(default=timezone.now, db_index=True)
    workspace = models.ForeignKey(Workspace, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    message = models.TextField(blank=True)
    context = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["group", "-at"], name="mon_occurrence_group_at")]

    def __str__(self) -> str:
        return f"{self.group_id} at {self.at:%Y-%m-%d %H:%M:%S}"


class Resolution(models.TextChoices):
    MINUTE = "m", "Minute"
    HOUR = "h", "Hour"


# Upper bounds (ms) of the latency histogram columns h0..h9; h9 is everything slower.
LATENCY_BOUNDS_MS = (10, 25, 50, 100, 250, 500, 1000, 2500, 5000)


class Rollup(models.Model):
    """Counts and a latency histogram per (series, key) per minute and per hour.

    Every process adds its own counts with an additive upsert, so the numbers are right with one
    process on SQLite and with many on PostgreSQL. Gauges (queue depth, scheduler lag, breaker
    state) are sampled into ``value`` once a minute.
    """

    series = models.CharField(max_length=32)
    key = models.CharField(max_length=200)
    resolution = models.CharField(max_length=1, choices=Resolution.choices)
    bucket = models.DateTimeField()
    count = models.BigIntegerField(default=0)
    failures = models.BigIntegerField(default=0)
    total_ms = models.FloatField(default=0)
    h0 = models.BigIntegerField(default=0)
    h1 = models.BigIntegerField(default=0)
    h2 = models.BigIntegerField(default=0)
    h3 = models.BigIntegerField(default=0)
    h4 = models.BigIntegerField(default=0)
    h5 = models.BigIntegerField(default=0)
    h6 = models.BigIntegerField(default=0)
    h7 = models.BigIntegerField(default=0)
    h8 = models.BigIntegerField(default=0)
    h9 = models.BigIntegerField(default=0)
    value = models.FloatField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["series", "key", "resolution", "bucket"], name="mon_rollup_unique"),
        ]
        indexes = [models.Index(fields=["series", "resolution", "bucket"], name="mon_rollup_series_bucket")]

    def __str__(self) -> str:
        return f"{self.series} {self.key} {self.bucket:%Y-%m-%d %H:%M}"

    @property
    def histogram(self) -> list[int]:
        return [getattr(self, f"h{index}") for index in range(10)]


class Heartbeat(models.Model):
    """The last time something periodic ran: beat's heartbeat task, the alert evaluator."""

    name = models.CharField(max_length=32, unique=True)
    at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} at {self.at:%Y-%m-%d %H:%M:%S}"


class HealthSample(models.Model):
    """One check's result, taken every minute by beat, for the status page's history."""

    at = models.DateTimeField(db_index=True)
    name = models.CharField(max_length=32)
    ok = models.BooleanField()
    latency_ms = models.FloatField()
    error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-at", "name"]

    def __str__(self) -> str:
        return f"{self.name} {'ok' if self.ok else 'failing'} at {self.at:%H:%M}"


class AlertKind(models.TextChoices):
    ERROR_RATE = "error_rate", "Error rate over a threshold"
    NEW_ERROR_GROUP = "new_error_group", "New or regressed error group"
    BREAKER_OPEN = "breaker_open", "Circuit breaker open too long"
    QUEUE_BACKLOG = "queue_backlog", "Queue backlog or oldest waiting run too old"
    BEAT_SILENT = "beat_silent", "Beat silent"
    WORKERS_SILENT = "workers_silent", "Workers silent"
    PUBLISH_FAILURES = "publish_failures", "Publish failures in a row"
    INSTAGRAM_TOKEN = "instagram_token", "Instagram token expired or expiring"
    N8N_CALLBACK_TIMEOUTS = "n8n_callback_timeouts", "n8n callbacks timing out"
    STRIPE_WEBHOOKS_FAILING = "stripe_webhooks_failing", "Stripe webhooks failing"
    BACKUP_STALE = "backup_stale", "Backups not made"


class AlertRule(models.Model):
    """What to watch and when to speak up; the defaults are created by a migration.

    ``threshold`` and ``window_minutes`` mean what the kind says (see ``monitoring/alerts.py``).
    """

    kind = models.CharField(max_length=32, choices=AlertKind.choices)
    name = models.CharField(max_length=120)
    enabled = models.BooleanField(default=True)
    threshold = models.FloatField(help_text="What counts as bad; the unit depends on the kind.")
    window_minutes = models.PositiveIntegerField(default=5, help_text="How far back the rule looks.")
    remind_after_minutes = models.PositiveIntegerField(
        default=60, help_text="A reminder goes out when an alert is still firing after this long."
    )
    notify_email = models.BooleanField(default=True)
    notify_webhook = models.BooleanField(default=True)

    class Meta:
        ordering = ["kind", "id"]

    def __str__(self) -> str:
        return self.name


class AlertState(models.TextChoices):
    FIRING = "firing", "Firing"
    RESOLVED = "resolved", "Resolved"


class Alert(models.Model):
    """One stretch of time during which a rule fired for one key (a provider, an account...)."""

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="alerts")
    key = models.CharField(max_length=200, blank=True)
    state = models.CharField(max_length=16, choices=AlertState.choices, default=AlertState.FIRING)
    summary = models.TextField()
    value = models.FloatField(null=True, blank=True)
    started_at = models.DateTimeField()
    last_notified_at = models.DateTimeField(null=True, blank=True)
    reminders = models.PositiveIntegerField(default=0)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "key"], condition=models.Q(state="firing"), name="mon_alert_one_firing_per_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.rule}: {self.summary}"


class NotificationKind(models.TextChoices):
    FIRING = "firing", "Firing"
    REMINDER = "reminder", "Reminder"
    RESOLVED = "resolved", "Resolved"


class AlertNotification(models.Model):
    """One message sent (or tried) about an alert, per channel."""

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=16, choices=NotificationKind.choices)
    channel = models.CharField(max_length=16)
    at = models.DateTimeField(default=timezone.now)
    ok = models.BooleanField(default=True)
    detail = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind} by {self.channel} at {self.at:%Y-%m-%d %H:%M}"
