"""The workflow templates shipped in ``workflows/*.json`` and how one becomes an n8n workflow.

A template file holds our description of the template and, under ``workflow``, the n8n workflow
(name, nodes, connections, settings) with placeholders filled in at install time:

- ``@@WORKFLOW_NAME@@``, ``@@WEBHOOK_PATH@@``: the workflow's name and its production webhook path;
- ``@@WEBHOOK_ID@@``: a node's webhookId, stable for a given path and node;
- ``@@PARAM:<name>@@``: a setting the installer entered (a URL, an id). Only allowed in plain
  strings, never inside an n8n expression (a string starting with "="), so nothing a user types
  can become code in n8n;
- ``@@CREDENTIAL_ID:<key>@@``, ``@@CREDENTIAL_NAME:<key>@@``: an n8n credential we create.
  ``callback`` is the workspace's Crypto credential holding the callback secret, ``trigger`` its
  Header Auth credential holding the run token; others come from the template's ``credentials``
  list, filled from ``secret`` params.

Every template starts with a Webhook node (path ``@@WEBHOOK_PATH@@``, answering on receipt,
header auth with the ``trigger`` credential) and ends with an HTTP Request node that POSTs the
callback, signed by a Crypto node (HMAC-SHA256, hex) keyed with the ``callback`` credential.
Tests check these rules for every file.
"""

from __future__ import annotations

import copy
import functools
import json
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.validators import URLValidator

WORKFLOWS_DIR = Path(__file__).resolve().parent / "workflows"
CALLBACK_CREDENTIAL = "callback"
TRIGGER_CREDENTIAL = "trigger"
CRYPTO_CREDENTIAL_TYPE = "crypto"

_PLACEHOLDER = re.compile(r"@@([A-Z_]+)(?::([a-z0-9_]+))?@@")


@dataclass(frozen=True)
class Param:
    name: str
    label: str
    # url, base_url (paths get appended), digits, text, or secret (only ever sent into an n8n credential)
    kind: str = "text"
    help: str = ""
    required: bool = True
    default: str = ""
    default_setting: str = ""  # a Django setting (declared in settings.py) supplying the default

    @property
    def initial(self) -> str:
        if self.default_setting:
            return str(getattr(settings, self.default_setting) or self.default)
        return self.default

    def validate(self, value: str) -> str:
        """The value, stripped, if it suits the param's kind; else ValidationError."""
        value = value.strip()
        if self.kind in ("url", "base_url"):
            URLValidator(schemes=["http", "https"], message=f"{self.label}: enter an http(s) URL.")(value)
            if len(value) > 2000:
                raise ValidationError(f"{self.label}: at most 2000 characters.")
            # A base URL gets paths appended in the workflow: no trailing slash.
            return value.rstrip("/") if self.kind == "base_url" else value
        if self.kind == "digits":
            if not re.fullmatch(r"[0-9]{1,32}", value):
                raise ValidationError(f"{self.label}: digits only.")
            return value
        if len(value) > 2000 or any(ord(char) < 32 for char in value):
            raise ValidationError(f"{self.label}: at most 2000 characters, on one line.")
        if self.kind != "secret" and value.startswith("="):
            raise ValidationError(f"{self.label} cannot start with “=” (n8n would read it as an expression).")
        return value


@dataclass(frozen=True)
class CredentialSpec:
    key: str
    type: str
    label: str
    data: dict[str, str]  # the credential's data field -> the secret param filling it


@dataclass(frozen=True)
class Template:
    key: str
    name: str
    description: str
    workflow: dict[str, Any] = field(repr=False)
    params: tuple[Param, ...] = ()
    credentials: tuple[CredentialSpec, ...] = ()
    # Runs through this template may take longer than N8N_CALLBACK_TIMEOUT_MINUTES (approvals).
    callback_timeout_minutes: int | None = None

    @property
    def secret_params(self) -> tuple[Param, ...]:
        return tuple(param for param in self.params if param.kind == "secret")

    def render(
        self,
        *,
        workflow_name: str,
        webhook_path: str,
        params: dict[str, str],
        credentials: dict[str, tuple[str, str]],
    ) -> dict[str, Any]:
        """The n8n workflow body with every placeholder filled. ``credentials``: key -> (id, name)."""
        values = {
            "WORKFLOW_NAME": workflow_name,
            "WEBHOOK_PATH": webhook_path,
        }

        def fill(value: Any, node_name: str) -> Any:
            if isinstance(value, dict):
                return {key: fill(item, node_name) for key, item in value.items()}
            if isinstance(value, list):
                return [fill(item, node_name) for item in value]
            if not isinstance(value, str) or "@@" not in value:
                return value

            def replace(match: re.Match[str]) -> str:
                kind, arg = match.group(1), match.group(2)
                if kind == "PARAM":
                    return params[arg]
                if kind == "CREDENTIAL_ID":
                    return credentials[arg][0]
                if kind == "CREDENTIAL_NAME":
                    return credentials[arg][1]
                if kind == "WEBHOOK_ID":
                    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"n8n-webhook:{webhook_path}:{node_name}"))
                return values[kind]

            return _PLACEHOLDER.sub(replace, value)

        workflow = copy.deepcopy(self.workflow)
        workflow["nodes"] = [fill(node, node.get("name", "")) for node in workflow["nodes"]]
        return {key: fill(value, "") if key != "nodes" else value for key, value in workflow.items()}


def _load(path: Path) -> Template:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        template = Template(
            key=data["key"],
            name=data["name"],
            description=data["description"],
            workflow=data["workflow"],
            params=tuple(Param(**param) for param in data.get("params", [])),
            credentials=tuple(CredentialSpec(**spec) for spec in data.get("credentials", [])),
            callback_timeout_minutes=data.get("callback_timeout_minutes"),
        )
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ImproperlyConfigured(f"n8n template {path.name} is invalid: {error!r}") from error
    _check(template, path.name)
    return template


def _check(template: Template, filename: str) -> None:
    """Placeholders refer to known params and credentials, and params never enter an expression."""
    param_names = {param.name for param in template.params}
    secret_names = {param.name for param in template.secret_params}
    credential_keys = {spec.key for spec in template.credentials} | {CALLBACK_CREDENTIAL, TRIGGER_CREDENTIAL}

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, str):
            for match in _PLACEHOLDER.finditer(value):
                kind, arg = match.group(1), match.group(2)
                if kind == "PARAM":
                    if arg not in param_names or arg in secret_names:
                        raise ImproperlyConfigured(f"{filename}: unknown or secret param {arg!r} in the workflow")
                    if value.startswith("="):
                        raise ImproperlyConfigured(f"{filename}: param {arg!r} inside an n8n expression")
                elif kind in ("CREDENTIAL_ID", "CREDENTIAL_NAME"):
                    if arg not in credential_keys:
                        raise ImproperlyConfigured(f"{filename}: unknown credential {arg!r}")
                elif kind not in ("WORKFLOW_NAME", "WEBHOOK_PATH", "WEBHOOK_ID"):
                    raise ImproperlyConfigured(f"{filename}: unknown placeholder {match.group(0)}")

    walk(template.workflow)
    for spec in template.credentials:
        for param in spec.data.values():
            if param not in secret_names:
                raise ImproperlyConfigured(f"{filename}: credential {spec.key!r} takes {param!r}, not a secret param")


@functools.cache
def _all() -> dict[str, Template]:
    templates = [_load(path) for path in sorted(WORKFLOWS_DIR.glob("*.json"))]
    return {template.key: template for template in sorted(templates, key=lambda t: t.name)}


def template_list() -> list[Template]:
    return list(_all().values())


def template_get(key: str) -> Template | None:
    return _all().get(key)
