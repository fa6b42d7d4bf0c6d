"""``{% jinja "campaigns/list_content.html" %}``: a Jinja2 template (``templates/jinja2/``) inside a Django one.

For a page whose content costs too much in Django's engine while its layout stays base.html, as
every page's does (marketing/jinja.py says which). The Jinja2 template sees the Django template's
context, context processors' values included, and the request.
"""

from django import template
from django.template import engines
from django.utils.safestring import SafeString, mark_safe

register = template.Library()


@register.simple_tag(takes_context=True)
def jinja(context: template.Context, template_name: str) -> SafeString:
    rendered = engines["jinja2"].get_template(template_name).render(context.flatten(), context.get("request"))
    return mark_safe(rendered)  # noqa: S308 - Jinja2 escaped every value (autoescape is on)
