from django import template

from patients.validation import format_phone

register = template.Library()


@register.filter
def phone(value: str) -> str:
    """An E.164 number as people write it."""
    return format_phone(value)
