import json
import re

from django import template
from django.utils.html import conditional_escape, format_html_join
from django.utils.safestring import SafeString

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
    pieces = _CODE.split(text or "")  # plain text and code alternate, plain text first and last
    return format_html_join("", "{}<code>{}</code>", zip(pieces[0::2], pieces[1::2])) + conditional_escape(pieces[-1])


@register.filter
def operator_label(op: str) -> str:
    return OPERATORS.get(op, op)


@register.filter
def rule_value(value) -> str:
    """A rule's value as JSON: ``50``, ``"gold"``, ``["DE", "AT"]``."""
    return show(value, limit=200)
