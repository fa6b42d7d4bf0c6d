from django.db import models

from integrations.crypto import EncryptedTextField
from marketing.models import Workspace


class AccountStatus(models.TextChoices):
    CONNECTED = "connected", "Connected"
    NEEDS_RECONNECT = "needs_reconnect", "Needs reconnecting"
    DISCONNECTED = "disconnected", "Disconnected"


class InstagramAccount(models.Model):
    """An Instagram Business account a workspace publishes to, reached through its Facebook Page."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="instagram_accounts")
    ig_user_id = models.CharField("Instagram user id", max_length=64)
    username = models.CharField(max_length=100)
    profile_picture_url = models.URLField(max_length=1000, blank=True)
    page_id = models.CharField("Facebook Page id", max_length=64)
    page_name = models.CharField(max_length=200, blank=True)
    access_token = EncryptedTextField(blank=True)
    token_expires_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=AccountStatus.choices, default=AccountStatus.CONNECTED)
    last_error = models.TextField(blank=True)
    connected_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["username"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "ig_user_id"], name="instagram_account_unique_per_workspace")
        ]

    def __str__(self) -> str:
        return f"@{self.username}"

    @property
    def can_publish(self) -> bool:
        return self.status == AccountStatus.CONNECTED
