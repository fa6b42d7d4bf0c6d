import calendar
import uuid

from django.conf import settings
from django.db import models
from django.urls import reverse

from marketing.models import Workspace

from .captions import MAX_ALT_TEXT_CHARS


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SCHEDULED = "scheduled", "Scheduled"
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    ARCHIVED = "archived", "Archived"


class PostFormat(models.TextChoices):
    POST = "post", "Feed post"
    STORY = "story", "Story"


# The statuses whose schedules dispatch runs; everywhere a next run is shown follows this.
DISPATCHED_STATUSES = (CampaignStatus.SCHEDULED, CampaignStatus.ACTIVE)


class Campaign(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="campaigns")
    name = models.CharField(max_length=200)
    brief = models.TextField(
        blank=True, help_text="What the image and the post are about. The AI image is generated from it."
    )
    caption = models.TextField(blank=True)
    hashtags = models.TextField(blank=True, help_text="Separated by spaces, with or without #.")
    first_comment = models.TextField(blank=True, help_text="Posted as the first comment right after publishing.")
    format = models.CharField(
        max_length=8,
        choices=PostFormat.choices,
        default=PostFormat.POST,
        help_text="A feed post (one image, or up to ten as a carousel) or a story (one image, shown for 24 hours).",
    )
    status = models.CharField(max_length=16, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Approval (workspaces that require it, see campaigns/approval.py): what was approved is kept
    # as a fingerprint of the content, so any change to it, by any path, needs a new approval.
    approved_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_fingerprint = models.CharField(max_length=64, blank=True, editable=False)
    approval_requested_at = models.DateTimeField(null=True, blank=True)
    approval_requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    changes_requested_note = models.TextField(blank=True)
    changes_requested_at = models.DateTimeField(null=True, blank=True)
    changes_requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-updated_at", "-id"]
        # The list's orders (selectors.SORTS, each ending with -id), alone and within one status:
        # a page is read from its cursor along one of these, however many campaigns there are.
        indexes = [
            models.Index(fields=["workspace", "-updated_at", "-id"], name="campaign_ws_updated"),
            models.Index(fields=["workspace", "status", "-updated_at", "-id"], name="campaign_ws_status_updated"),
            models.Index(fields=["workspace", "-created_at", "-id"], name="campaign_ws_created"),
            models.Index(fields=["workspace", "name", "-id"], name="campaign_ws_name"),
            models.Index(fields=["workspace", "status", "-id"], name="campaign_ws_status"),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("campaign_detail", args=[self.pk])



class HashtagGroup(models.Model):
    """Hashtags a workspace uses again and again, added to a campaign's hashtags in one click."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="hashtag_groups")
    name = models.CharField(max_length=60)
    hashtags = models.TextField(help_text="Separated by spaces, with or without #.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="hashtag_group_unique_name")]

    def __str__(self) -> str:
        return self.name


class PostingSlot(models.Model):
    """A time of the week the workspace likes to publish at, on its own clock: "Add to queue" takes
    the next one no other campaign has (see ``scheduling.campaign_queue``).

    The workspace's times have no destination; a destination (an Instagram account, say) may have
    times of its own, as a campaign target names it, which campaigns publishing only there take.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="posting_slots")
    destination = models.CharField(max_length=32, blank=True, default="")
    object_id = models.PositiveBigIntegerField(default=0)
    weekday = models.PositiveSmallIntegerField(help_text="0 is Monday, 6 is Sunday.")
    time = models.TimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["weekday", "time"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "destination", "object_id", "weekday", "time"], name="posting_slot_unique_time"
            ),
            models.CheckConstraint(condition=models.Q(weekday__lte=6), name="posting_slot_weekday"),
        ]

    def __str__(self) -> str:
        return f"{calendar.day_name[self.weekday]} {self.time:%H:%M}"

    @property
    def queue(self) -> str:
        """Whose time it is: "" for the workspace's, a destination key (``instagram:12``) otherwise."""
        return f"{self.destination}:{self.object_id}" if self.destination else ""


class CampaignTarget(models.Model):
    """One place a campaign publishes to: a registered destination (``destinations.py``) and the id of
    that destination's object (an Instagram account, an n8n workflow...).

    The object is referenced by id, not by a foreign key, so that the campaigns app depends on no
    integration; the registry removes a target when its object is deleted.
    """

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="targets")
    destination = models.CharField(max_length=32)
    object_id = models.PositiveBigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "destination", "object_id"], name="campaign_target_unique")
        ]
        indexes = [models.Index(fields=["destination", "object_id"], name="campaign_target_object")]

    def __str__(self) -> str:
        return f"{self.campaign}: {self.destination} {self.object_id}"

    @property
    def key(self) -> str:
        return f"{self.destination}:{self.object_id}"


class CampaignStatusChange(models.Model):
    """One row per status change: who, when, from what to what, and through which door."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="status_changes")
    from_status = models.CharField(max_length=16, choices=CampaignStatus.choices)
    to_status = models.CharField(max_length=16, choices=CampaignStatus.choices)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    via = models.CharField(max_length=16, default="page", help_text="page, admin, api or task")
    note = models.CharField(max_length=300, blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.campaign}: {self.from_status} → {self.to_status}"


class CampaignComment(models.Model):
    """A note the team leaves on a campaign: feedback before approval, a reminder, a question."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["campaign", "created_at", "id"], name="comment_campaign_created")]

    def __str__(self) -> str:
        return f"{self.campaign}: {self.body[:40]}"


def _image_path(instance: "CampaignImage", filename: str) -> str:
    # The token makes the public URL unguessable; the workspace id keeps files apart on disk.
    return f"campaigns/{instance.campaign.workspace_id}/{instance.token.hex}.jpg"


def _thumbnail_path(instance: "CampaignImage", filename: str) -> str:
    return f"campaigns/{instance.campaign.workspace_id}/{instance.token.hex}-thumb.jpg"


class ImageSource(models.TextChoices):
    UPLOAD = "upload", "Uploaded"
    AI = "ai", "AI generated"
    PLACEHOLDER = "placeholder", "Placeholder"


class CampaignImage(models.Model):
    """A JPEG ready for Instagram, in our own media storage. Carousels have up to ten, in order."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="images")
    token = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    position = models.PositiveSmallIntegerField(default=0)
    file = models.FileField(upload_to=_image_path)
    # A small square for lists (images.thumbnail); made on first view for images older than it.
    thumbnail = models.FileField(upload_to=_thumbnail_path, blank=True)
    width = models.PositiveIntegerField(default=0)
    height = models.PositiveIntegerField(default=0)
    source = models.CharField(max_length=16, choices=ImageSource.choices, default=ImageSource.UPLOAD)
    prompt = models.TextField(blank=True)
    model = models.CharField(max_length=100, blank=True)
    fallback_reason = models.CharField(max_length=300, blank=True)
    alt_text = models.CharField(
        "alt text",
        max_length=MAX_ALT_TEXT_CHARS,
        blank=True,
        help_text="What the image shows, for people who use a screen reader. Published with it on Instagram.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return f"Image {self.position + 1} of {self.campaign}"

    def get_absolute_url(self) -> str:
        return reverse("campaign_image", args=[self.campaign_id, self.pk])

    @property
    def publishable(self) -> bool:
        """Runs publish it. A placeholder stands in for an image in the editor only."""
        return self.source != ImageSource.PLACEHOLDER

    @property
    def stored_paths(self) -> list[str]:
        """Every file of this image in storage, to delete with it."""
        return [name for name in (self.file.name, self.thumbnail.name) if name]

    @property
    def public_url(self) -> str:
        """Where an outside service (Instagram, n8n) fetches the image, without signing in."""
        return settings.PUBLIC_BASE_URL + reverse("public_image", args=[self.token.hex])


class GenerationStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Generating"
    SUCCEEDED = "succeeded", "Generated"
    FELL_BACK = "fell_back", "Placeholder used"
    REFUSED = "refused", "Refused by moderation"
    # Only a run's generation fails: a run never publishes a placeholder.
    FAILED = "failed", "Failed"


class ImageGeneration(models.Model):
    """One request for an AI image, so the page can show its progress and its outcome."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="generations")
    status = models.CharField(max_length=16, choices=GenerationStatus.choices, default=GenerationStatus.QUEUED)
    prompt = models.TextField()
    model = models.CharField(max_length=100)
    fallback_reason = models.CharField(max_length=300, blank=True)
    image = models.ForeignKey(CampaignImage, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Image generation for {self.campaign} ({self.status})"

    @property
    def is_done(self) -> bool:
        return self.status not in (GenerationStatus.QUEUED, GenerationStatus.RUNNING)


class ExecutionSource(models.TextChoices):
    MANUAL = "manual", "Run now"
    SCHEDULE = "schedule", "Schedule"
    TRIGGER = "trigger", "Trigger"
    API = "api", "API"


class ExecutionStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


# Runs a person asked for (the page's "Run now", the admin, the API): at most one in flight a campaign.
MANUAL_SOURCES = (ExecutionSource.MANUAL, ExecutionSource.API)
IN_FLIGHT = (ExecutionStatus.QUEUED, ExecutionStatus.RUNNING)


class ErrorCategory(models.TextChoices):
    VALIDATION = "validation", "Invalid campaign"
    PROVIDER = "provider", "Outside service error"
    AUTH = "auth", "Account needs reconnecting"
    QUOTA = "quota", "Publishing quota reached"
    TIMEOUT = "timeout", "Timed out"
    WORKER = "worker", "Worker lost"
    INTERNAL = "internal", "Internal error"


class CampaignExecution(models.Model):
    """One run of a campaign: its steps, outcome and the ids outside services gave it."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # No index of its own: execution_workspace_finish (workspace, finished_at) serves it.
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="executions", db_index=False)
    # Its index stays although execution_campaign_queued begins with it: on PostgreSQL, Django's
    # removal of a field's index also drops execution_one_manual_in_flight, a unique index on
    # that one column.
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="executions")
    source = models.CharField(max_length=16, choices=ExecutionSource.choices)
    status = models.CharField(max_length=16, choices=ExecutionStatus.choices, default=ExecutionStatus.QUEUED)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    queued_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # A worker holds the execution until lease_expires_at; a stale lease means the worker died.
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    error_category = models.CharField(max_length=16, choices=ErrorCategory.choices, blank=True)
    error_message = models.TextField(blank=True)
    # The run a schedule planned for this instant: one execution per (campaign, planned time).
    planned_for = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-queued_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "planned_for"],
                condition=models.Q(planned_for__isnull=False),
                name="execution_once_per_planned_time",
            ),
            # Two clicks or two API calls must not publish twice: the database refuses the second run.
            models.UniqueConstraint(
                fields=["campaign"],
                condition=models.Q(source__in=MANUAL_SOURCES, status__in=IN_FLIGHT),
                name="execution_one_manual_in_flight",
            ),
        ]
        indexes = [
            models.Index(fields=["campaign", "-queued_at"], name="execution_campaign_queued"),
            models.Index(fields=["status", "lease_expires_at"], name="execution_status_lease"),
            # The workspace's runs finished in a range (its monitoring page): the range, not the
            # workspace's whole history.
            models.Index(fields=["workspace", "finished_at"], name="execution_workspace_finish"),
            # The workspace's run list and the dashboard's recent runs, newest first, a page at a time.
            models.Index(fields=["workspace", "-queued_at", "-id"], name="execution_ws_queued"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign} run {self.uuid.hex[:8]} ({self.status})"

    def get_absolute_url(self) -> str:
        return reverse("execution_detail", args=[self.campaign_id, self.pk])

    @property
    def is_finished(self) -> bool:
        return self.status in (ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED, ExecutionStatus.CANCELLED)

    @property
    def outputs(self) -> dict[str, str]:
        """What the publish steps reported (``instagram_media_id``, ``n8n_execution_id``...); first wins.

        Reads ``steps.all()``, so lists of runs prefetch ``steps``.
        """
        found: dict[str, str] = {}
        for step in self.steps.all():
            for key, value in step.state.get("outputs", {}).items():
                found.setdefault(key, value)
        return found


class StepStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    WAITING = "waiting", "Waiting"
    SUCCEEDED = "succeeded", "Done"
    SKIPPED = "skipped", "Skipped"
    FAILED = "failed", "Failed"


STEP_LABELS = {"prepare_image": "Prepare the image", "render_caption": "Render the caption", "publish": "Publish"}


class ExecutionStep(models.Model):
    # No index of its own: step_unique_position (execution, position) serves lookups by run.
    execution = models.ForeignKey(CampaignExecution, on_delete=models.CASCADE, related_name="steps", db_index=False)
    position = models.PositiveSmallIntegerField()
    name = models.CharField(max_length=32)
    status = models.CharField(max_length=16, choices=StepStatus.choices, default=StepStatus.PENDING)
    detail = models.TextField(blank=True)
    # Publish steps only: the destination and its object (as on CampaignTarget, copied so that the
    # history survives a target's removal), and what the outside service called the result.
    destination = models.CharField(max_length=32, blank=True)
    object_id = models.PositiveBigIntegerField(null=True, blank=True)
    external_id = models.CharField(max_length=64, blank=True)
    external_url = models.URLField(max_length=500, blank=True)
    error_category = models.CharField(max_length=16, choices=ErrorCategory.choices, blank=True)
    # What a step has already done with an outside service (container ids...), so a rerun resumes.
    state = models.JSONField(default=dict, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["position"]
        constraints = [models.UniqueConstraint(fields=["execution", "position"], name="step_unique_position")]
        indexes = [models.Index(fields=["destination", "object_id"], name="step_destination_object")]

    def __str__(self) -> str:
        return f"{self.position + 1}. {self.label} ({self.status})"

    @property
    def label(self) -> str:
        if self.name == "publish" and self.destination:
            from .destinations import destination_label

            return f"Publish to {destination_label(self.destination)}"
        return STEP_LABELS.get(self.name, self.name.replace("_", " ").capitalize())

    @property
    def is_settled(self) -> bool:
        """Done one way or the other: a rerun of the execution leaves it alone."""
        return self.status in (StepStatus.SUCCEEDED, StepStatus.SKIPPED, StepStatus.FAILED)


class ScheduleKind(models.TextChoices):
    ONCE = "once", "Once"
    RECURRING = "recurring", "Recurring"


class Schedule(models.Model):
    """When a campaign runs by itself: once at a time, or on a cron in an IANA time zone.

    Times are stored aware (UTC) with the zone's name kept; ``next_run_at`` is the next planned
    run, claimed with a compare-and-set so each planned time starts exactly one execution.
    """

    campaign = models.OneToOneField(Campaign, on_delete=models.CASCADE, related_name="schedule")
    kind = models.CharField(max_length=16, choices=ScheduleKind.choices)
    run_at = models.DateTimeField(null=True, blank=True)
    preset = models.CharField(max_length=32, blank=True)
    cron = models.CharField(max_length=100, blank=True)
    timezone = models.CharField(max_length=64)
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    max_runs = models.PositiveIntegerField(null=True, blank=True)
    runs_planned = models.PositiveIntegerField(default=0)
    next_run_at = models.DateTimeField(null=True, blank=True, db_index=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    @property
    def upcoming_run_at(self):
        """The next run dispatch will start: none while the campaign is paused, done or a draft."""
        return self.next_run_at if self.campaign.status in DISPATCHED_STATUSES else None

    def __str__(self) -> str:
        if self.kind == ScheduleKind.ONCE:
            return f"Once at {self.run_at:%Y-%m-%d %H:%M} UTC"
        return f"{self.cron} ({self.timezone})"
