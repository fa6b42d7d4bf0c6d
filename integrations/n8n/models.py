import secrets

from django.db import models

from integrations.crypto import EncryptedTextField
from marketing.models import Workspace


def new_callback_secret() -> str:
    return secrets.token_urlsafe(32)


class N8nConnection(models.Model):
    """A workspace's n8n instance; empty fields fall back to N8N_BASE_URL and N8N_API_KEY."""

    workspace = models.OneToOneField(Workspace, on_delete=models.CASCADE, related_name="n8n_connection")
    base_url = models.URLField(blank=True, help_text="For example https://n8n.example.com. Empty: the platform's n8n.")
    api_key = EncryptedTextField(blank=True)
    # Signs the runs we hand to n8n and the callbacks n8n sends back.
    callback_secret = EncryptedTextField(default=new_callback_secret)
    # Sent with each run in a header the workflows' Webhook nodes check, so only we start them.
    trigger_token = EncryptedTextField(default=new_callback_secret)
    # The n8n credentials holding those two for the templates ({"callback": id, "trigger": id}),
    # and the base URL they were created at: an id means nothing on another n8n.
    n8n_credentials = models.JSONField(default=dict, blank=True)
    credential_base_url = models.URLField(blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"n8n for {self.workspace}"


class N8nWorkflow(models.Model):
    """A workflow template installed into the workspace's n8n."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="n8n_workflows")
    template_key = models.CharField(max_length=64)
    name = models.CharField(max_length=200)
    n8n_id = models.CharField("n8n workflow id", max_length=64)
    webhook_path = models.CharField(max_length=200)
    active = models.BooleanField(default=False)
    # What the installer entered for the template's settings (URLs, ids; never secrets).
    params = models.JSONField(default=dict, blank=True)
    last_error = models.TextField(blank=True)
    installed_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "template_key"], name="n8n_workflow_one_per_template")
        ]

    def __str__(self) -> str:
        return self.name
