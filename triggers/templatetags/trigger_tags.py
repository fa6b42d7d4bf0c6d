import json
import re

from django import template
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from triggers.evaluation import OPERATORS, show

register = template.Library()

_CODE = re.compile(r"`([^`]*)`")


@register.filter
def pretty_json(value, limit: int = 5000) -> str:
    """A stored payload as indented JSON, cut at ``limit`` characters for the page."""
    text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[:limit] + "\n…"


@register.filter
def reason(text: str) -> SafeString:
    """A decision's reason with its `paths` set as code."""
    return mark_safe(_CODE.sub(r"<code>\1</code>", escape(text or "")))


@register.filter
def operator_label(op: str) -> str:
    return OPERATORS.get(op, op)


@register.filter
def rule_value(value) -> str:
    """A rule's value as JSON: ``50``, ``"gold"``, ``["DE", "AT"]``."""
    return show(value, limit=200)
