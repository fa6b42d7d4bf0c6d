import calendar
from datetime import datetime, timedelta

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from marketing.forms import TimezoneField
from marketing.web import add_service_errors

from .images import FIT_CHOICES, prepare_upload
from .captions import MAX_ALT_TEXT_CHARS, MAX_CAPTION_CHARS, MAX_COMMENT_CHARS, post_problems
from . import destinations, imports
from .models import Campaign, CampaignImage, CampaignStatus, ExecutionSource, ExecutionStatus, PostFormat, ScheduleKind
from .recurrence import DST_RULE_HELP, PRESETS, zone
from .scheduling import Plan, plan_from_input
from .selectors import SORTS
from .services import BULK_ACTION_CHOICES, MAX_IMAGES, image_limit


class MultipleImageInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleImageField(forms.FileField):
    def __init__(self, **kwargs):
        kwargs.setdefault("widget", MultipleImageInput(attrs={"accept": "image/jpeg,image/png,image/webp"}))
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def clean(self, data, initial=None):
        files = data if isinstance(data, (list, tuple)) else [data] if data else []
        return [super(MultipleImageField, self).clean(file, initial) for file in files]


class CampaignForm(forms.ModelForm):
    images = MultipleImageField(
        label="Images",
        help_text=f"JPEG, PNG or WebP, up to 20 MB each; up to {MAX_IMAGES} make a carousel. "
        "They are converted to JPEG for Instagram.",
    )
    fit = forms.ChoiceField(
        label="If an image's shape does not suit Instagram",
        choices=FIT_CHOICES,
        initial="none",
        widget=forms.RadioSelect,
        help_text="Instagram accepts from 4:5 (portrait) to 1.91:1 (landscape).",
    )

    class Meta:
        model = Campaign
        fields = ["name", "format", "brief", "caption", "hashtags", "first_comment"]
        widgets = {
            "format": forms.RadioSelect,
            "brief": forms.Textarea(attrs={"rows": 3, "placeholder": "A summer sale on linen shirts, bright beach light"}),
            "caption": forms.Textarea(attrs={"rows": 6, "data-counter": MAX_CAPTION_CHARS}),
            "hashtags": forms.TextInput(attrs={"placeholder": "#summer #linen #sale"}),
            "first_comment": forms.Textarea(attrs={"rows": 2, "maxlength": MAX_COMMENT_CHARS}),
        }
        help_texts = {
            "format": "A story shows one image full screen for 24 hours, without a caption or comments on Instagram "
            "(the caption still goes to WordPress and n8n). Story images may be as tall as 9:16.",
            "first_comment": f"Posted right after publishing. Instagram allows {MAX_COMMENT_CHARS} characters, "
            "4 hashtags and 1 link in a comment.",
        }

    targets = forms.MultipleChoiceField(
        label="Publish to",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Each run publishes to every place ticked. Connect Instagram accounts and install n8n "
        "workflows to see them here.",
    )

    def __init__(self, *args, workspace, images: list[CampaignImage] | tuple = (), **kwargs):
        super().__init__(*args, **kwargs)
        self.workspace = workspace
        self.existing_images = sum(1 for image in images if image.publishable)  # placeholders take no room
        self._images = list(images)
        # Left out by older clients and scripts: the campaign keeps its format.
        self.fields["format"].required = False
        self._alt_text_names = {}
        for number, image in enumerate(images, 1):
            name = f"alt_text_{image.pk}"
            self.fields[name] = forms.CharField(
                label=f"Alt text, image {number}",
                required=False,
                max_length=MAX_ALT_TEXT_CHARS,
                initial=image.alt_text,
                widget=forms.Textarea(attrs={"rows": 2, "maxlength": MAX_ALT_TEXT_CHARS, "placeholder": "What the image shows"}),
            )
            self._alt_text_names[image.pk] = name
        self.needs_fit = False
        current = [target.key for target in self.instance.targets.all()] if self.instance.pk else []
        grouped = destinations.target_choices(workspace=workspace, keep=current)
        self.fields["targets"].choices = [
            (group, [(c.key, f"{c.label} ({c.note})" if c.note else c.label) for c in choices])
            for group, choices in grouped.items()
            if choices
        ]
        if self.instance.pk:
            self.initial["targets"] = current

    def clean(self):
        cleaned = super().clean()
        for field, message in post_problems(
            caption=cleaned.get("caption", ""),
            hashtags=cleaned.get("hashtags", ""),
            first_comment=cleaned.get("first_comment", ""),
        ).items():
            self.add_error(field, message)
        cleaned["format"] = cleaned.get("format") or self.instance.format or PostFormat.POST
        story = cleaned["format"] == PostFormat.STORY
        uploads = cleaned.get("images") or []
        if self.existing_images + len(uploads) > image_limit(cleaned["format"]):
            self.add_error(
                "images",
                "A story holds one image; remove it first, or make it a feed post."
                if story
                else f"A campaign holds at most {MAX_IMAGES} images; remove some first.",
            )
            return cleaned
        prepared = []
        for upload in uploads:
            try:
                prepared.append(prepare_upload(upload, fit=cleaned.get("fit") or "none", story=story))
            except ValidationError as error:
                self.needs_fit = self.needs_fit or error.code == "aspect_ratio"
                self.add_error("images", f"{upload.name}: {' '.join(error.messages)}")
        cleaned["prepared_images"] = prepared
        return cleaned

    @property
    def service_fields(self) -> dict:
        """What the create and update services take, from the cleaned form."""
        return {**{name: self.cleaned_data[name] for name in self.Meta.fields}, "targets": self.cleaned_data["targets"]}

    @property
    def images_with_alt_text(self) -> list[tuple[CampaignImage, forms.BoundField]]:
        """The campaign's images in carousel order, each with its alt text field."""
        return [(image, self[self._alt_text_names[image.pk]]) for image in self._images]

    @property
    def alt_texts(self) -> dict[int, str]:
        """Each existing image's alt text, by image id, for ``campaign_images_describe``."""
        return {pk: self.cleaned_data[name] for pk, name in self._alt_text_names.items()}


class CampaignFilterForm(forms.Form):
    q = forms.CharField(required=False, label="Search", widget=forms.TextInput(attrs={"type": "search", "placeholder": "Search name or caption"}))
    status = forms.ChoiceField(
        required=False,
        label="Status",
        choices=[("", "All but archived"), ("all", "All")] + list(CampaignStatus.choices),
    )
    sort = forms.ChoiceField(
        required=False,
        label="Sort by",
        choices=[("updated", "Last updated"), ("created", "Newest"), ("name", "Name"), ("status", "Status")],
    )

    def values(self) -> dict[str, str]:
        if not self.is_valid():
            return {"search": "", "status": "", "sort": "updated"}
        return {
            "search": self.cleaned_data["q"].strip(),
            "status": self.cleaned_data["status"],
            "sort": self.cleaned_data["sort"] if self.cleaned_data["sort"] in SORTS else "updated",
        }


class HashtagGroupForm(forms.Form):
    name = forms.CharField(max_length=60, label="Name", widget=forms.TextInput(attrs={"placeholder": "Summer sale"}))
    hashtags = forms.CharField(
        max_length=3000,
        label="Hashtags",
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "#summer #sale #beachwear"}),
        help_text="Separated by spaces, with or without #.",
    )


class CampaignImportForm(forms.Form):
    """A CSV file, or its rows pasted from a spreadsheet; ``confirm`` imports what a check showed."""

    file = forms.FileField(label="CSV file", required=False, widget=forms.FileInput(attrs={"accept": ".csv,.tsv,.txt,text/csv"}))
    text = forms.CharField(
        label="Or paste the rows",
        required=False,
        strip=False,
        max_length=imports.MAX_BYTES,
        widget=forms.Textarea(attrs={"rows": 6, "placeholder": "name,caption,targets,publish_at", "spellcheck": "false"}),
        help_text="Copied from a spreadsheet with its header row; tabs, commas and semicolons all work.",
    )
    confirm = forms.BooleanField(required=False, widget=forms.HiddenInput)
    idempotency_key = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)

    def clean(self) -> dict:
        cleaned = super().clean()
        upload = cleaned.get("file")
        if upload is not None:
            cleaned["text"] = imports.decode(upload.read(imports.MAX_BYTES + 1))
        elif not cleaned.get("text", "").strip() and not self.errors:
            raise ValidationError("Choose a CSV file, or paste its rows.")
        return cleaned


WEEKDAY_CHOICES = [(str(day), name) for day, name in enumerate(calendar.day_abbr)]


class PostingSlotForm(forms.Form):
    weekdays = forms.TypedMultipleChoiceField(
        label="Days",
        choices=WEEKDAY_CHOICES,
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one day."},
    )
    time = forms.TimeField(label="Time", widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"))


class ChangesRequestForm(forms.Form):
    note = forms.CharField(
        max_length=1000,
        label="What should change?",
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": "Say what should change."},
    )


class CommentForm(forms.Form):
    body = forms.CharField(
        max_length=2000,
        label="Comment",
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "Feedback, a question, a reminder…"}),
        error_messages={"required": "Write something first."},
        help_text="Type @ and a teammate's handle, the start of their email address (@bob for bob@…), to email them this comment.",
    )


class StatusForm(forms.Form):
    to = forms.ChoiceField(choices=CampaignStatus.choices)


WALL_CLOCK_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"]


class WallClockField(forms.DateTimeField):
    """A date and time as typed, without a zone: the schedule's zone and DST rule place it later."""

    widget = forms.DateTimeInput(attrs={"type": "datetime-local", "step": 60}, format="%Y-%m-%dT%H:%M")

    def __init__(self, **kwargs):
        kwargs.setdefault("input_formats", WALL_CLOCK_FORMATS)
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if isinstance(value, datetime):
            return value.replace(tzinfo=None)
        for fmt in self.input_formats:
            try:
                return datetime.strptime(value.strip(), fmt)
            except (ValueError, TypeError):
                continue
        raise ValidationError(self.error_messages["invalid"], code="invalid")


class ScheduleForm(forms.Form):
    kind = forms.ChoiceField(
        label="Runs",
        choices=[(ScheduleKind.ONCE, "Once, at a date and time"), (ScheduleKind.RECURRING, "On a recurrence")],
        widget=forms.RadioSelect,
        initial=ScheduleKind.ONCE,
    )
    run_at = WallClockField(label="Date and time")
    preset = forms.ChoiceField(
        label="Repeat",
        required=False,
        choices=[(key, label) for key, (label, _) in PRESETS.items()] + [("custom", "Custom cron expression")],
        initial="daily_0900",
    )
    cron = forms.CharField(
        label="Cron expression",
        required=False,
        max_length=100,
        help_text="minute hour day-of-month month day-of-week, e.g. 30 12 * * 1-5 for weekdays at 12:30.",
        widget=forms.TextInput(attrs={"placeholder": "30 12 * * 1-5", "autocomplete": "off"}),
    )
    timezone = TimezoneField(help_text=DST_RULE_HELP)
    starts_at = WallClockField(label="Starting (optional)")
    ends_at = WallClockField(label="Ending (optional)")
    max_runs = forms.IntegerField(label="At most this many runs", required=False, min_value=1, max_value=100000)
    accept_warnings = forms.BooleanField(label="Schedule anyway, despite the warnings above", required=False)

    @classmethod
    def for_campaign(cls, campaign, data=None) -> "ScheduleForm":
        schedule = getattr(campaign, "schedule", None)
        if schedule is None:
            return cls(data, initial={"timezone": campaign.workspace.timezone})
        tz = zone(schedule.timezone)
        local = lambda moment: moment.astimezone(tz).replace(tzinfo=None) if moment else None  # noqa: E731
        return cls(
            data,
            initial={
                "kind": schedule.kind,
                "run_at": local(schedule.run_at),
                "preset": schedule.preset or ("custom" if schedule.cron else "daily_0900"),
                "cron": schedule.cron,
                "timezone": schedule.timezone,
                "starts_at": local(schedule.starts_at),
                "ends_at": local(schedule.ends_at),
                "max_runs": schedule.max_runs,
            },
        )

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            self._plan = plan_from_input(
                kind=cleaned["kind"],
                timezone=cleaned["timezone"],
                run_at=cleaned.get("run_at"),
                preset=cleaned.get("preset") or "",
                cron=cleaned.get("cron") or "",
                starts_at=cleaned.get("starts_at"),
                ends_at=cleaned.get("ends_at"),
                max_runs=cleaned.get("max_runs"),
            )
        except ValidationError as error:
            add_service_errors(self, error)
        return cleaned

    def plan(self) -> Plan:
        """The plan of a valid form."""
        return self._plan


RUN_PERIODS = [("", "Any time"), (1, "Last 24 hours"), (7, "Last 7 days"), (30, "Last 30 days"), (90, "Last 90 days")]


class RunFilterForm(forms.Form):
    status = forms.ChoiceField(required=False, label="Status", choices=[("", "Any status")] + list(ExecutionStatus.choices))
    source = forms.ChoiceField(required=False, label="Started by", choices=[("", "Anything")] + list(ExecutionSource.choices))
    days = forms.TypedChoiceField(required=False, label="Queued", coerce=int, empty_value=None, choices=RUN_PERIODS)
    campaign = forms.IntegerField(required=False, min_value=1, max_value=2**63 - 1, widget=forms.HiddenInput)

    def values(self) -> dict:
        """The filters for ``selectors.run_list``; a field given a value it does not offer is left out."""
        self.is_valid()
        data = self.cleaned_data
        days = data.get("days")
        return {
            "status": data.get("status", ""),
            "source": data.get("source", ""),
            "since": timezone.now() - timedelta(days=days) if days else None,
            "campaign_id": data.get("campaign"),
        }


class CampaignBulkForm(forms.Form):
    """The campaign list's "with the selected" form: an action and the ticked campaigns' ids."""

    action = forms.ChoiceField(choices=BULK_ACTION_CHOICES)
    ids = forms.TypedMultipleChoiceField(coerce=int, error_messages={"required": "Select at least one campaign."})
    next = forms.CharField(required=False, max_length=2000)

    def __init__(self, data, **kwargs) -> None:
        super().__init__(data, **kwargs)
        # Any id is offered: the service reads only the workspace's campaigns among them.
        self.fields["ids"].choices = [(value, value) for value in data.getlist("ids") if value.isascii() and value.isdigit() and len(value) < 19]
