import zoneinfo

from allauth.account.forms import SignupForm as AllauthSignupForm
from django import forms
from django.core.exceptions import ValidationError
from django.db import connections, models
from django.forms.renderers import TemplatesSetting

from .models import FeedbackKind, Role, User, Workspace


class FormRenderer(TemplatesSetting):
    """Renders every form with labels, help and errors beside each field."""

    form_template_name = "forms/form.html"
    field_template_name = "forms/field.html"


def timezone_choices() -> list[tuple[str, str]]:
    return [(name, name.replace("_", " ")) for name in sorted(zoneinfo.available_timezones())]


def key_out_of_range(field: models.Field, value, using: str) -> bool:
    """Whether ``value`` is an integer that ``field``'s column cannot hold. Django answers an
    exact lookup with such a number with no row, but sends it as it is in an IN lookup, and the
    database fails (SQLite: OverflowError; PostgreSQL: out of range)."""
    if not isinstance(field, models.IntegerField):
        return False
    try:
        number = int(value)
    except (TypeError, ValueError):
        return False
    low, high = connections[using].ops.integer_field_range(field.get_internal_type())
    return (low is not None and number < low) or (high is not None and number > high)


class ModelMultipleChoiceField(forms.ModelMultipleChoiceField):
    """Django's, refusing a key past what its column holds as an invalid choice (key_out_of_range):
    a 500 on a tampered form otherwise."""

    def _check_values(self, value):
        meta = self.queryset.model._meta
        field = meta.get_field(self.to_field_name) if self.to_field_name else meta.pk
        for item in value if isinstance(value, (list, tuple)) else ():
            if key_out_of_range(field, item, self.queryset.db):
                raise ValidationError(self.error_messages["invalid_choice"], code="invalid_choice", params={"value": item})
        return super()._check_values(value)


class TimezoneInput(forms.TextInput):
    """A text box that suggests IANA zones as one types ("berl" offers Europe/Berlin): a searchable
    picker without JavaScript, through the browser's own <datalist>."""

    template_name = "forms/timezone_input.html"

    def __init__(self, attrs: dict | None = None) -> None:
        super().__init__(attrs={"autocomplete": "off", "spellcheck": "false", "placeholder": "Start typing a city, e.g. Berlin", **(attrs or {})})

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        context["widget"]["attrs"]["list"] = f"{context['widget']['attrs'].get('id', name)}_zones"
        context["zones"] = sorted(zoneinfo.available_timezones())
        return context


class TimezoneField(forms.ChoiceField):
    widget = TimezoneInput

    def __init__(self, **kwargs):
        kwargs.setdefault("choices", timezone_choices)
        kwargs.setdefault("label", "Time zone")
        kwargs.setdefault("error_messages", {"invalid_choice": "Choose a zone from the list, such as Europe/Berlin."})
        super().__init__(**kwargs)

    def to_python(self, value):
        return super().to_python(value).strip()


class SignupForm(AllauthSignupForm):
    """allauth's sign-up with the browser's time zone, filled in by app.js, for the new account."""

    timezone = forms.CharField(required=False, widget=forms.HiddenInput(attrs={"data-browser-timezone": ""}))

    def clean_timezone(self) -> str:
        name = self.cleaned_data.get("timezone", "").strip()
        # A zone the browser reports that we do not know is ignored, not an error on the form.
        return name if name in zoneinfo.available_timezones() else ""


class WorkspaceForm(forms.Form):
    name = forms.CharField(max_length=100, label="Workspace name")
    timezone = TimezoneField(help_text="Schedules default to this zone.")
    require_approval = forms.BooleanField(
        required=False,
        label="Campaigns need an owner's or admin's approval before they publish",
        help_text="Members ask for approval from the campaign's page; any change to an approved campaign's texts, "
        "images or destinations needs a new one. Runs of a campaign that is not approved are cancelled.",
    )
    require_two_factor = forms.BooleanField(
        required=False,
        label="Members need two-factor authentication",
        help_text="A member without an authenticator app is sent to set one up before any page of this workspace "
        "opens; their account settings, signing out and switching workspace stay open. Turn it on for your own "
        "account first. API tokens are separate credentials and keep working.",
    )

    @classmethod
    def for_workspace(cls, workspace: Workspace, data=None) -> "WorkspaceForm":
        return cls(
            data,
            initial={
                "name": workspace.name,
                "timezone": workspace.timezone,
                "require_approval": workspace.require_approval,
                "require_two_factor": workspace.require_two_factor,
            },
        )


class WorkspaceDeleteForm(forms.Form):
    confirm_name = forms.CharField(
        label="Type the workspace's name to confirm",
        max_length=100,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )


class InvitationForm(forms.Form):
    email = forms.EmailField(label="Email address", widget=forms.EmailInput(attrs={"placeholder": "name@company.com"}))
    role = forms.ChoiceField(choices=Role.choices, initial=Role.MEMBER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class SwitchWorkspaceForm(forms.Form):
    workspace = forms.IntegerField()


class AccountSettingsForm(forms.ModelForm):
    timezone = TimezoneField(help_text="Times are shown to you in this zone.")

    class Meta:
        model = User
        fields = ["name", "timezone", "notify_comments"]
        labels = {"name": "Your name"}


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=100, label="Token name", help_text="Say what uses it, e.g. “Shop backend”.")


class FeedbackForm(forms.Form):
    kind = forms.ChoiceField(label="What is it about?", choices=FeedbackKind.choices, widget=forms.RadioSelect, initial=FeedbackKind.PROBLEM)
    message = forms.CharField(
        label="Your message",
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 6, "placeholder": "What happened, what you expected, or what would help you."}),
        help_text="The team reads every message and answers here and by email.",
    )
    # The page the form was opened from, sent back with it (not shown).
    page = forms.CharField(required=False, max_length=500, widget=forms.HiddenInput)
