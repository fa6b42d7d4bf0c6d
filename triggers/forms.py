import json
import re
from dataclasses import dataclass, field

from django import forms
from django.core.exceptions import ValidationError

from campaigns.recurrence import DST_RULE_HELP, PRESETS
from marketing.forms import ModelMultipleChoiceField, timezone_choices
from marketing.web import add_service_errors
from marketing.models import Workspace

from .evaluation import MATCH_MODES, MAX_RULES, OPERATORS, validate_condition
from .models import MAX_COOLDOWN_SECONDS, Trigger, TriggerKind
from .selectors import campaign_choices

GROUP_LETTERS = "ABCDE"
MATCH_CHOICES = [("all", "all"), ("any", "any")]
OPERATOR_CHOICES = [("", "choose…")] + list(OPERATORS.items())
_PLAIN_NUMBER = re.compile(r"-?[0-9]{1,15}(\.[0-9]{1,15})?")
_ROW_KEY = re.compile(r"rule-(\d{1,3})-(group|path|op|value)")
# Rows beyond this index are ignored, so a crafted form cannot make the page build thousands.
_MAX_ROW_INDEX = 2 * MAX_RULES


@dataclass
class RuleRow:
    """One row of the rule builder: a condition, optionally in a lettered group."""

    path: str = ""
    op: str = ""
    value: str = ""
    group: str = ""
    errors: list[str] = field(default_factory=list)

    @property
    def is_blank(self) -> bool:
        return not (self.path.strip() or self.value.strip())


def value_to_text(value) -> str:
    """A rule's value as the builder shows it: text as is, lists comma-separated when that is unambiguous."""
    if isinstance(value, list):
        if all(isinstance(item, str) and "," not in item and item == item.strip() and item for item in value):
            return ", ".join(value)
        return json.dumps(value, ensure_ascii=False)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return json.dumps(value)


def text_to_value(op: str, text: str):
    """What a typed value stands for: a list for ``in``, otherwise the text itself.

    Numbers stay text; the evaluator compares numerically whenever both sides read as numbers.
    """
    text = text.strip()
    if op == "in":
        if text.startswith("["):
            try:
                parsed = json.loads(text)
            except ValueError:
                return text
            return parsed
        return [item.strip() for item in text.split(",") if item.strip()]
    if op == "exists":
        return text or None
    if op in ("gt", "lt") and _PLAIN_NUMBER.fullmatch(text):
        # Stored as a number so that decisions read "needed > 50", not "needed > \"50\"".
        return float(text) if "." in text else int(text)
    return text


class RuleBuilder:
    """The rule rows of the trigger form: read from rules or from POST, validated, turned back into rules."""

    def __init__(self, *, match: str = "all", rows: list[RuleRow] | None = None, group_matches: dict | None = None):
        self.match = match if match in MATCH_MODES else "all"
        self.rows = rows if rows is not None else []
        self.group_matches = {letter: (group_matches or {}).get(letter, "all") for letter in GROUP_LETTERS}
        self.errors: list[str] = []

    @classmethod
    def from_rules(cls, rules: dict | None) -> "RuleBuilder":
        rules = rules or {}
        rows: list[RuleRow] = []
        group_matches: dict[str, str] = {}
        letters = iter(GROUP_LETTERS)
        for item in rules.get("rules", []):
            if isinstance(item, dict) and "rules" in item:
                letter = next(letters, GROUP_LETTERS[-1])
                group_matches[letter] = item.get("match", "all")
                for child in item.get("rules", []):
                    rows.append(RuleRow(child.get("path", ""), child.get("op", ""), value_to_text(child.get("value")), letter))
            elif isinstance(item, dict):
                rows.append(RuleRow(item.get("path", ""), item.get("op", ""), value_to_text(item.get("value")), ""))
        builder = cls(match=rules.get("match", "all"), rows=rows, group_matches=group_matches)
        if not builder.rows:
            builder.rows.append(RuleRow())
        return builder

    @classmethod
    def from_data(cls, data) -> "RuleBuilder":
        """Reads the posted rows; "add a rule" and "remove" buttons are applied here too."""
        indexed: dict[int, RuleRow] = {}
        for key in data:
            found = _ROW_KEY.fullmatch(key)
            if not found or int(found[1]) > _MAX_ROW_INDEX:
                continue
            row = indexed.setdefault(int(found[1]), RuleRow())
            setattr(row, found[2], str(data.get(key, ""))[:2000])
        rows = [indexed[i] for i in sorted(indexed)]
        for row in rows:
            row.group = row.group if row.group in GROUP_LETTERS else ""
        remove = str(data.get("remove_rule", ""))
        if remove.isdigit() and int(remove) in indexed:
            rows.remove(indexed[int(remove)])
        if "add_rule" in data and len(rows) < MAX_RULES:
            rows.append(RuleRow())
        if not rows:
            rows.append(RuleRow())
        group_matches = {letter: data.get(f"group-{letter}-match", "all") for letter in GROUP_LETTERS}
        return cls(match=data.get("rules-match", "all"), rows=rows, group_matches=group_matches)

    @property
    def used_groups(self) -> list[tuple[str, str]]:
        letters = sorted({row.group for row in self.rows if row.group})
        return [(letter, self.group_matches.get(letter, "all")) for letter in letters]

    def is_valid(self) -> bool:
        for number, row in enumerate(self.rows, start=1):
            row.errors = []
            if row.is_blank and not row.op:
                continue
            problems: list[str] = []
            rule = {"path": row.path, "op": row.op, "value": text_to_value(row.op, row.value)}
            validate_condition(rule, f"Row {number}", problems)
            row.errors = [problem.split(": ", 1)[-1] for problem in problems]
        filled = [row for row in self.rows if not (row.is_blank and not row.op)]
        if len(filled) > MAX_RULES:
            self.errors.append(f"A trigger holds at most {MAX_RULES} rules.")
        return not self.errors and not any(row.errors for row in self.rows)

    def to_rules(self) -> dict:
        """The rule set the rows describe: ungrouped rows at the top, each lettered group as one nested rule."""
        top: list[dict] = []
        groups: dict[str, dict] = {}
        for row in self.rows:
            if row.is_blank and not row.op:
                continue
            rule = {"path": row.path.strip(), "op": row.op, "value": text_to_value(row.op, row.value)}
            if rule["op"] == "exists" and rule["value"] is None:
                del rule["value"]
            if row.group:
                if row.group not in groups:
                    match = self.group_matches.get(row.group, "all")
                    groups[row.group] = {"match": match if match in MATCH_MODES else "all", "rules": []}
                    top.append(groups[row.group])
                groups[row.group]["rules"].append(rule)
            else:
                top.append(rule)
        return {"match": self.match, "rules": top} if top else {}


class TriggerForm(forms.Form):
    name = forms.CharField(max_length=200)
    kind = forms.ChoiceField(
        choices=TriggerKind.choices,
        widget=forms.RadioSelect,
        initial=TriggerKind.EVENT,
        help_text="Manual: a button and an API call. Time: a cron in a time zone. Webhook event: a secret URL that "
        "outside systems post JSON to. Conditional: a webhook event that fires only when its rules match.",
    )
    campaigns = ModelMultipleChoiceField(
        queryset=None,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Paused and archived campaigns are left out when the trigger fires.",
    )
    enabled = forms.BooleanField(required=False, initial=True, label="Enabled")
    cooldown = forms.IntegerField(
        min_value=0,
        max_value=MAX_COOLDOWN_SECONDS,
        initial=0,
        label="Cooldown (seconds)",
        help_text="After firing, the trigger does not fire again for this long. 0 for no cooldown.",
    )
    preset = forms.ChoiceField(
        required=False,
        label="Repeat",
        choices=[("custom", "Custom cron expression")] + [(key, label) for key, (label, _) in PRESETS.items()],
        initial="custom",
    )
    cron = forms.CharField(
        required=False,
        max_length=100,
        label="Cron expression",
        widget=forms.TextInput(attrs={"placeholder": "30 12 * * 1-5", "spellcheck": "false"}),
        help_text="minute hour day-of-month month day-of-week, on the trigger's time zone's clock. " + DST_RULE_HELP,
    )
    timezone = forms.ChoiceField(required=False, label="Time zone")

    def __init__(self, *args, workspace: Workspace, trigger: Trigger | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.workspace = workspace
        self.fields["campaigns"].queryset = campaign_choices(workspace=workspace, trigger=trigger)
        self.fields["timezone"].choices = [("", f"The workspace's ({workspace.timezone})")] + timezone_choices()
        data = kwargs.get("data") if "data" in kwargs else (args[0] if args else None)
        if data is not None:
            self.rule_builder = RuleBuilder.from_data(data)
        else:
            self.rule_builder = RuleBuilder.from_rules(trigger.rules if trigger else None)
        if trigger is not None and data is None:
            self.initial.update(
                {
                    "name": trigger.name,
                    "kind": trigger.kind,
                    "campaigns": list(trigger.campaigns.all()),
                    "enabled": trigger.enabled,
                    "cooldown": trigger.cooldown,
                    "cron": trigger.cron,
                    "timezone": trigger.timezone,
                    "preset": next((key for key, (_, cron) in PRESETS.items() if cron == trigger.cron), "custom"),
                }
            )

    def clean(self):
        cleaned = super().clean()
        preset = cleaned.get("preset")
        if preset in PRESETS:
            cleaned["cron"] = PRESETS[preset][1]
        # Rules only count for conditional triggers; other kinds save without them.
        if cleaned.get("kind") == TriggerKind.CONDITIONAL and not self.rule_builder.is_valid():
            self.add_error(None, "Some rules need fixing: see below.")
        return cleaned

    def add_service_error(self, error: ValidationError) -> None:
        """Puts a service's ValidationError on the matching fields; rule errors go on the rule builder."""
        if hasattr(error, "error_dict") and "rules" in error.error_dict:
            self.rule_builder.errors.extend(error.message_dict["rules"])
            self.add_error(None, "Some rules need fixing: see below.")
            error = ValidationError({name: errors for name, errors in error.error_dict.items() if name != "rules"})
        add_service_errors(self, error)

    @property
    def service_fields(self) -> dict:
        data = self.cleaned_data
        return {
            "name": data["name"],
            "kind": data["kind"],
            "campaigns": list(data["campaigns"]),
            "enabled": data["enabled"],
            "cooldown": data["cooldown"],
            "cron": data["cron"] if data["kind"] == TriggerKind.TIME else "",
            "timezone": data["timezone"],
            "rules": self.rule_builder.to_rules() if data["kind"] == TriggerKind.CONDITIONAL else {},
        }


class PayloadTestForm(forms.Form):
    payload = forms.CharField(
        label="Test payload",
        widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false", "placeholder": '{"order": {"total": 80}}'}),
        help_text="Shows the decision for this JSON. Nothing is stored and nothing runs.",
    )
