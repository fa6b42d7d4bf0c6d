"""``{% jinja "campaigns/list_content.html" %}``: a Jinja2 template (``templates/jinja2/``) inside a Django one.

For a page whose content costs too much in Django's engine while its layout stays base.html, as
every page's does (marketing/jinja.py says which). The Jinja2 template sees the Django template's
context, context processors' values included, and the request; ``page_csrf_token`` is the token
the Django template's own ``{% csrf_token %}`` shows.
"""

from django import template
from django.template import engines
from django.utils.safestring import SafeString, mark_safe

register = template.Library()


@register.simple_tag(takes_context=True)
def jinja(context: template.Context, template_name: str) -> SafeString:
    values = context.flatten()
    # The page's CSRF token, masked once: the Jinja2 backend's csrf_input and csrf_token mask it
    # anew each time they are read (50 µs each).
    values["page_csrf_token"] = values.get("csrf_token", "")
    rendered = engines["jinja2"].get_template(template_name).render(values, context.get("request"))
    return mark_safe(rendered)  # noqa: S308 - Jinja2 escaped every value (autoescape is on)
