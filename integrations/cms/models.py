from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.urls import reverse

from integrations.crypto import EncryptedTextField
from marketing.models import Workspace

MIN_INTERVAL, MAX_INTERVAL = 5, 1440  # minutes between two polls


class SourceKind(models.TextChoices):
    FEED = "feed", "RSS or Atom feed"
    WORDPRESS = "wordpress", "WordPress site"


class PostStatus(models.TextChoices):
    DRAFT = "draft", "Draft, for an editor to publish"
    PUBLISH = "publish", "Published at once"


class SourceState(models.TextChoices):
    NEW = "new", "Not polled yet"
    OK = "ok", "Working"
    ERROR = "error", "Error"
    PAUSED = "paused", "Paused"


class ContentSource(models.Model):
    """A feed or a WordPress site polled for new posts, and what to do with each new one."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="content_sources")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=SourceKind.choices, default=SourceKind.FEED)
    url = models.URLField("address", max_length=1000, help_text="The feed's URL, or the WordPress site's home page.")
    wp_username = models.CharField("WordPress user name", max_length=150, blank=True)
    wp_app_password = EncryptedTextField("application password", blank=True)
    poll_interval = models.PositiveIntegerField(
        "minutes between checks",
        default=30,
        validators=[MinValueValidator(MIN_INTERVAL), MaxValueValidator(MAX_INTERVAL)],
    )
    # What a new post does: an event for the trigger engine, a draft campaign, or both.
    trigger = models.ForeignKey(
        "triggers.Trigger",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="content_sources",
        help_text="Each new post is sent to this event trigger as a cms.post.published event.",
    )
    create_drafts = models.BooleanField("create a draft campaign per post", default=True)
    publish_automatically = models.BooleanField(
        default=False, help_text="Run each new campaign at once instead of waiting for a person."
    )
    template_campaign = models.ForeignKey(
        "campaigns.Campaign",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="New campaigns take this campaign's destination, hashtags and first comment.",
    )
    # A WordPress site is also a campaign destination: how the posts it gets are made.
    wp_post_status = models.CharField(
        "campaigns become", max_length=16, choices=PostStatus.choices, default=PostStatus.DRAFT
    )
    wp_category = models.CharField(
        "category", max_length=200, blank=True, help_text="Posts made from campaigns go in this category (created if missing)."
    )
    state = models.CharField(max_length=16, choices=SourceState.choices, default=SourceState.NEW)
    last_error = models.TextField(blank=True)
    failures = models.PositiveIntegerField(default=0)
    last_polled_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    next_poll_at = models.DateTimeField(null=True, blank=True)
    # What the server said last time, sent back so an unchanged feed answers 304.
    etag = models.CharField(max_length=500, blank=True)
    last_modified = models.CharField(max_length=100, blank=True)
    site_title = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        indexes = [
            models.Index(fields=["workspace", "name"], name="cms_source_ws_name"),
            models.Index(fields=["next_poll_at"], name="cms_source_due"),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("cms_source_detail", args=[self.pk])


class ItemStatus(models.TextChoices):
    BASELINE = "baseline", "Already there when connected"
    NEW = "new", "Waiting"
    PROCESSING = "processing", "Working on it"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class ContentItem(models.Model):
    """One post seen in a source, stored once (by its GUID or post id), and what it became."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="content_items")
    source = models.ForeignKey(ContentSource, on_delete=models.CASCADE, related_name="items")
    guid = models.CharField(max_length=500)
    title = models.CharField(max_length=500)
    link = models.URLField(max_length=2000, blank=True)
    excerpt = models.TextField(blank=True)
    author = models.CharField(max_length=200, blank=True)
    categories = models.JSONField(default=list, blank=True)
    tags = models.JSONField(default=list, blank=True)
    image_url = models.URLField(max_length=2000, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=ItemStatus.choices, default=ItemStatus.NEW)
    # What the post became: the event sent to the trigger (its id senders see) and the campaign.
    event_uuid = models.UUIDField(null=True, blank=True)
    campaign = models.ForeignKey(
        "campaigns.Campaign", null=True, blank=True, on_delete=models.SET_NULL, related_name="content_items"
    )
    note = models.TextField(blank=True)
    imported_at = models.DateTimeField(auto_now_add=True)
    processing_since = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-imported_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["source", "guid"], name="cms_item_once_per_source")]
        indexes = [models.Index(fields=["source", "-imported_at"], name="cms_item_recent")]

    def __str__(self) -> str:
        return self.title

    def event_payload(self) -> dict:
        """The ``cms.post.published`` event that trigger rules see."""
        return {
            "event": "cms.post.published",
            "source": {"id": self.source_id, "name": self.source.name, "kind": self.source.kind},
            "title": self.title,
            "link": self.link,
            "excerpt": self.excerpt,
            "categories": self.categories,
            "tags": self.tags,
            "author": self.author,
            "image_url": self.image_url,
            "published_at": self.published_at.isoformat() if self.published_at else None,
        }
