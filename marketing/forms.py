import zoneinfo

from django import forms
from django.forms.renderers import TemplatesSetting

from .models import Role, User, Workspace


class FormRenderer(TemplatesSetting):
    """Renders every form with labels, help and errors beside each field."""

    form_template_name = "forms/form.html"
    field_template_name = "forms/field.html"


def timezone_choices() -> list[tuple[str, str]]:
    return [(name, name.replace("_", " ")) for name in sorted(zoneinfo.available_timezones())]


class TimezoneField(forms.ChoiceField):
    def __init__(self, **kwargs):
        kwargs.setdefault("choices", timezone_choices)
        kwargs.setdefault("label", "Time zone")
        super().__init__(**kwargs)


class WorkspaceForm(forms.Form):
    name = forms.CharField(max_length=100, label="Workspace name")
    timezone = TimezoneField(help_text="Schedules default to this zone.")

    @classmethod
    def for_workspace(cls, workspace: Workspace, data=None) -> "WorkspaceForm":
        return cls(data, initial={"name": workspace.name, "timezone": workspace.timezone})


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
        fields = ["name", "timezone"]
        labels = {"name": "Your name"}


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=100, label="Token name", help_text="Say what uses it, e.g. “Shop backend”.")
