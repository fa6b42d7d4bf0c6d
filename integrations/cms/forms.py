from django import forms
from django.core.validators import URLValidator

from marketing.models import Workspace

from .models import MAX_INTERVAL, MIN_INTERVAL, ContentSource, PostStatus, SourceKind
from .selectors import template_campaign_choices, trigger_choices


class SourceForm(forms.Form):
    name = forms.CharField(max_length=200, help_text="How the source is shown here, for example “Company blog”.")
    kind = forms.ChoiceField(label="Kind", choices=SourceKind.choices, initial=SourceKind.FEED)
    url = forms.URLField(
        label="Address",
        max_length=1000,
        assume_scheme="https",
        validators=[URLValidator(schemes=["http", "https"])],
        help_text="A feed (https://example.com/feed/, …/rss.xml, a Substack's /feed) or a WordPress site's home page.",
    )
    wp_username = forms.CharField(label="WordPress user name", max_length=150, required=False)
    wp_app_password = forms.CharField(
        label="Application password",
        max_length=200,
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="WordPress only: Users → Profile → Application passwords. Leave empty to keep the stored one.",
    )
    poll_interval = forms.IntegerField(
        label="Minutes between checks", min_value=MIN_INTERVAL, max_value=MAX_INTERVAL, initial=30
    )
    trigger = forms.ModelChoiceField(
        queryset=None,
        required=False,
        empty_label="No event",
        help_text="Each new post is sent to this trigger as a cms.post.published event, for its rules to act on.",
    )
    create_drafts = forms.BooleanField(label="Create a draft campaign for each new post", required=False, initial=True)
    template_campaign = forms.ModelChoiceField(
        label="Model campaign",
        queryset=None,
        required=False,
        empty_label="None",
        help_text="New campaigns take its destination, hashtags and first comment.",
    )
    publish_automatically = forms.BooleanField(
        label="Publish new campaigns at once, without waiting for a person", required=False
    )

    wp_post_status = forms.ChoiceField(
        label="Campaigns published here become", choices=PostStatus.choices, initial=PostStatus.DRAFT, required=False
    )
    wp_category = forms.CharField(
        label="In the category",
        max_length=200,
        required=False,
        help_text="WordPress only, when a campaign publishes to this site; created if missing. Its hashtags become tags.",
    )

    def clean_wp_post_status(self) -> str:
        return self.cleaned_data["wp_post_status"] or PostStatus.DRAFT

    def __init__(self, *args, workspace: Workspace, source: ContentSource | None = None, **kwargs) -> None:
        if source is not None:
            kwargs.setdefault(
                "initial",
                {
                    "name": source.name,
                    "kind": source.kind,
                    "url": source.url,
                    "wp_username": source.wp_username,
                    "poll_interval": source.poll_interval,
                    "trigger": source.trigger_id,
                    "create_drafts": source.create_drafts,
                    "template_campaign": source.template_campaign_id,
                    "publish_automatically": source.publish_automatically,
                    "wp_post_status": source.wp_post_status,
                    "wp_category": source.wp_category,
                },
            )
        super().__init__(*args, **kwargs)
        self.fields["trigger"].queryset = trigger_choices(workspace=workspace)
        self.fields["template_campaign"].queryset = template_campaign_choices(workspace=workspace)
        if source is not None:
            self.fields["kind"].disabled = True


class TestForm(forms.Form):
    """What the "test" button fetches: the form's current values, unsaved."""

    kind = forms.ChoiceField(choices=SourceKind.choices)
    url = forms.URLField(max_length=1000, assume_scheme="https", validators=[URLValidator(schemes=["http", "https"])])
    wp_username = forms.CharField(max_length=150, required=False)
    wp_app_password = forms.CharField(max_length=200, required=False)
