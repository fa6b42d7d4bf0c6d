from django import template

register = template.Library()


@register.filter
def cents(value) -> str:
    """1900 → "19.00": Stripe's amounts are in the currency's smallest unit."""
    try:
        amount = int(value or 0)
    except (TypeError, ValueError):
        return ""
    return f"{amount // 100:,}.{amount % 100:02d}"
