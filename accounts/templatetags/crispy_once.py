"""``{{ form.field|as_crispy_field_once }}``: ``as_crispy_field``, rendered once for each way the field can look.

Crispy renders a field through its field, label and widget templates: about a millisecond a field here, so a
tab showing a four-field form no one has touched yet paid for it on every load. An unbound field's markup
depends only on what its fingerprint below holds (names, ids, label, help text, widget, its attributes and
choices, the initial value), so it is kept under that fingerprint and reused. A bound field (with its errors),
a form with a crispy helper, or a field whose choices come from a query (evaluating them for the fingerprint
would read them twice) renders through ``as_crispy_field`` as before. Use it only where an untouched field's
initial value is not a patient's data (it is kept in the process's memory).
"""

from __future__ import annotations

from crispy_forms.templatetags.crispy_forms_filters import as_crispy_field
from django import forms, template
from django.forms.boundfield import BoundField
from django.utils.safestring import SafeString, mark_safe

from accounts import form_once
from accounts.once import rendered_once

register = template.Library()


def _fingerprint(field: BoundField) -> tuple | None:
    form, widget = field.form, field.field.widget
    if form.is_bound or getattr(form, "helper", None) is not None:
        return None
    if isinstance(field.field, forms.ModelChoiceField):
        return None
    choices = getattr(widget, "choices", None)
    try:
        return (
            type(form),
            field.html_name,
            field.auto_id,
            str(field.label),
            str(field.help_text),
            field.field.required,
            field.field.disabled,
            form.use_required_attribute,
            form.label_suffix,
            type(widget),
            repr(sorted(widget.attrs.items())),
            repr(list(choices)) if choices is not None else None,
            repr(field.value()),
        )
    except TypeError:  # something in it cannot be compared: render it as usual
        return None


@register.filter
def as_crispy_field_once(field: BoundField) -> SafeString:
    key = _fingerprint(field)
    if key is None:
        return as_crispy_field(field)
    return mark_safe(rendered_once(("crispy field", *key), lambda: str(as_crispy_field(field))))  # noqa: S308 — crispy's own output, kept


@register.filter
def crispy_form_once(form: forms.BaseForm) -> SafeString:
    """``{% crispy form %}`` for an untouched form, rendered once per look (``accounts.form_once``)."""
    return form_once.crispy_form_once(form)


@register.filter
def as_crispy_form_once(form: forms.BaseForm) -> SafeString:
    """``{{ form|crispy }}`` for an untouched form, rendered once per look (``accounts.form_once``)."""
    return form_once.as_crispy_form_once(form)
