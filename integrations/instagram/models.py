from django.db import models
from django.urls import reverse

from integrations.crypto import EncryptedTextField
from marketing.models import Workspace


class AccountStatus(models.TextChoices):
    CONNECTED = "connected", "Connected"
    NEEDS_RECONNECT = "needs_reconnect", "Needs reconnecting"
    DISCONNECTED = "disconnected", "Disconnected"


# Meta's documented 24-hour publishing limit, assumed until the account's own is read.
DEFAULT_QUOTA_TOTAL = 100


class InstagramAccount(models.Model):
    """An Instagram Business account a workspace publishes to, reached through its Facebook Page."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="instagram_accounts")
    ig_user_id = models.CharField("Instagram user id", max_length=64)
    username = models.CharField(max_length=100)
    profile_picture_url = models.URLField(max_length=1000, blank=True)
    page_id = models.CharField("Facebook Page id", max_length=64)
    page_name = models.CharField(max_length=200, blank=True)
    # The long-lived Facebook user token (about 60 days), refreshed before it expires.
    access_token = EncryptedTextField(blank=True)
    token_expires_at = models.DateTimeField(null=True, blank=True)
    token_refreshed_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=AccountStatus.choices, default=AccountStatus.CONNECTED)
    last_error = models.TextField(blank=True)
    # The 24-hour publishing quota as Instagram last reported it (content_publishing_limit).
    quota_total = models.PositiveIntegerField(default=DEFAULT_QUOTA_TOTAL)
    quota_usage = models.PositiveIntegerField(default=0)
    quota_checked_at = models.DateTimeField(null=True, blank=True)
    connected_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["username"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "ig_user_id"], name="instagram_account_unique_per_workspace")
        ]

    def __str__(self) -> str:
        return f"@{self.username}"

    def get_absolute_url(self) -> str:
        return reverse("instagram_analytics", args=[self.pk])

    @property
    def can_publish(self) -> bool:
        return self.status == AccountStatus.CONNECTED


class AttemptStatus(models.TextChoices):
    STARTED = "started", "Started"
    RETRYING = "retrying", "Will retry"
    PUBLISHED = "published", "Published"
    FAILED = "failed", "Failed"


class PublishAttempt(models.Model):
    """One pass of a run's publish step against Instagram: what it created, and how it ended."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    execution = models.ForeignKey(
        "campaigns.CampaignExecution", on_delete=models.CASCADE, related_name="instagram_attempts"
    )
    account = models.ForeignKey(
        InstagramAccount, null=True, blank=True, on_delete=models.SET_NULL, related_name="publish_attempts"
    )
    container_id = models.CharField(max_length=64, blank=True)
    children_ids = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=16, choices=AttemptStatus.choices, default=AttemptStatus.STARTED)
    media_id = models.CharField(max_length=64, blank=True)
    error_code = models.IntegerField(null=True, blank=True)
    error_subcode = models.IntegerField(null=True, blank=True)
    error_message = models.TextField(blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["account", "status", "published_at"], name="ig_attempt_account_published")]

    def __str__(self) -> str:
        return f"Publish attempt {self.pk} ({self.status})"


class InsightObject(models.TextChoices):
    ACCOUNT = "account", "Account"
    MEDIA = "media", "Post"


class InsightValue(models.Model):
    """One metric of an account or a post on one day; pulled again the same day, it is updated in place.

    For posts the value is the lifetime total as of that day; for accounts the total of that day
    (``followers_count`` is the count on that day). ``value`` is None when Instagram had no data,
    for example "not enough viewers".
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    account = models.ForeignKey(InstagramAccount, on_delete=models.CASCADE, related_name="insights")
    object_type = models.CharField(max_length=16, choices=InsightObject.choices)
    object_id = models.CharField(max_length=64)
    metric = models.CharField(max_length=64)
    day = models.DateField()
    value = models.BigIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-day", "metric"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "object_type", "object_id", "metric", "day"], name="insight_one_value_per_day"
            )
        ]
        indexes = [models.Index(fields=["object_type", "object_id", "day"], name="insight_object_day")]

    def __str__(self) -> str:
        return f"{self.get_object_type_display()} {self.object_id} {self.metric} on {self.day}: {self.value}"
