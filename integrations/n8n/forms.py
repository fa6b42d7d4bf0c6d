from django import forms
from django.core.validators import URLValidator

from .models import N8nConnection
from .templates import Param, Template


class HttpUrlField(forms.URLField):
    # Replaces URLField's own validator rather than adding a second one, which repeated the error.
    default_validators = [URLValidator(schemes=["http", "https"])]


class ConnectionForm(forms.Form):
    base_url = HttpUrlField(
        label="n8n base URL",
        required=False,
        assume_scheme="https",
        max_length=200,
        help_text="For example https://n8n.example.com. Leave empty to use the platform's n8n, if there is one.",
    )
    api_key = forms.CharField(
        label="API key",
        required=False,
        max_length=2000,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="In n8n: Settings → n8n API → Create an API key. Leave empty to keep the current key.",
    )
    clear_api_key = forms.BooleanField(label="Remove the stored API key", required=False)

    def __init__(self, *args, connection: N8nConnection | None = None, **kwargs) -> None:
        if connection is not None:
            kwargs.setdefault("initial", {"base_url": connection.base_url})
        super().__init__(*args, **kwargs)


def _field(param: Param, *, installed: bool) -> forms.Field:
    common = {"label": param.label, "help_text": param.help, "validators": [param.validate]}
    if param.kind == "secret":
        return forms.CharField(
            required=param.required and not installed,
            widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
            **common,
        )
    if param.kind in ("url", "base_url"):
        return forms.CharField(required=param.required, max_length=2000, widget=forms.URLInput, **common)
    return forms.CharField(required=param.required, max_length=2000, **common)


class TemplateParamsForm(forms.Form):
    """The settings a template asks for; initial values from the installed workflow or the defaults."""

    def __init__(self, *args, template: Template, installed_params: dict | None = None, **kwargs) -> None:
        kwargs.setdefault("prefix", template.key)
        super().__init__(*args, **kwargs)
        installed = installed_params is not None
        for param in template.params:
            self.fields[param.name] = _field(param, installed=installed)
            if param.kind != "secret":
                self.fields[param.name].initial = (installed_params or {}).get(param.name) or param.initial
