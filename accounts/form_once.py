"""Whole untouched forms rendered by crispy once per look: ``crispy_form_once(form)`` is ``{% crispy form %}``,
``as_crispy_form_once(form)`` is ``{{ form|crispy }}``, each kept under the form's fingerprint.

Crispy writes a form through a layout, field, label and widget template a field: a tab with two or three
untouched forms paid milliseconds for markup that changes only when the form's own shape does. An unbound form
looks the same whenever its class (and so the helper its ``__init__`` builds), prefix and ids and, field by
field, its label, help text, widget, attributes, choices and initial value do; so it is rendered once under
that fingerprint and reused. A ``ModelChoiceField``'s choices are read first, by the one query its widget would
have run, and fixed on the field, so the render (the first time) reads nothing more: the same queries either
way. A bound form, with its errors, renders through crispy as before.

Only for forms whose every value is the clinic's own (practitioners' names, fixed choices, defaults): never a
form that holds a patient's data or their clinical text, which would be kept in the process's memory.
"""

from __future__ import annotations

from collections.abc import Callable

from crispy_forms.templatetags.crispy_forms_filters import as_crispy_form
from crispy_forms.utils import render_crispy_form
from django import forms
from django.utils.safestring import SafeString, mark_safe

from accounts.once import rendered_once


def _choice_key(choices) -> tuple:
    return tuple(
        (str(value), _choice_key(label) if isinstance(label, (list, tuple)) else str(label))
        for value, label in choices
    )


def _look(form: forms.BaseForm) -> tuple[tuple | None, dict[str, list]]:
    """The form's fingerprint (``None`` for a bound form or a value that cannot be compared) and its model
    choices, read by the one query each widget would run (a comprehension: ``list()`` would count them first)."""
    if form.is_bound:
        return None, {}
    read = {
        name: [choice for choice in field.choices]
        for name, field in form.fields.items()
        if isinstance(field, forms.ModelChoiceField)
    }
    parts: list = [type(form), form.prefix, str(form.auto_id), form.label_suffix, form.use_required_attribute]
    try:
        for bound in form:
            field, widget = bound.field, bound.field.widget
            choices = read.get(bound.name, getattr(widget, "choices", None))
            parts.append(
                (
                    bound.html_name,
                    bound.auto_id,
                    str(bound.label),
                    str(bound.help_text),
                    field.required,
                    field.disabled,
                    type(widget),
                    repr(sorted(widget.attrs.items())),
                    _choice_key(choices) if choices is not None else None,
                    repr(bound.value()),
                )
            )
        hash(tuple(parts))
    except TypeError:  # something in it cannot be compared: render it as usual
        return None, read
    return tuple(parts), read


def _render(form: forms.BaseForm, read: dict[str, list], render: Callable[[], str]) -> str:
    """``render()`` with the model choices already read fixed on their fields, so it reads nothing more."""
    for name, choices in read.items():
        form.fields[name].choices = choices
    return render()


def crispy_form_once(form: forms.BaseForm) -> SafeString:
    """``{% crispy form %}`` (the form's own helper; its ``form_tag`` off, so no CSRF token is written)."""
    key, read = _look(form)
    render = lambda: _render(form, read, lambda: render_crispy_form(form))  # noqa: E731
    if key is None:
        return mark_safe(render())  # noqa: S308 — crispy's own escaped output
    return mark_safe(rendered_once(("crispy form", *key), render))  # noqa: S308 — crispy's own output, kept


def crispy_form_class_once(
    form_class: type[forms.BaseForm], choices: dict[str, tuple[tuple[object, str], ...]]
) -> SafeString:
    """``{% crispy form_class() %}`` for an untouched form built without arguments whose only part that
    changes is its fields' ``choices`` (each given in full, as its widget lists them, in a tuple): rendered once
    per form class and choices, with no form built on a request that finds it kept. For a page that reads
    the choices its own way (one query for two forms' options) and would otherwise pay for ``form_class()``
    and its fingerprint, which walks every field and choice, on every request."""

    def render() -> str:
        form = form_class()
        for name, options in choices.items():
            form.fields[name].choices = list(options)
        return render_crispy_form(form)

    look = ("crispy form class", form_class, *sorted(choices.items()))
    return mark_safe(rendered_once(look, render))  # noqa: S308 — crispy's own output, kept


def as_crispy_form_once(form: forms.BaseForm) -> SafeString:
    """``{{ form|crispy }}`` (crispy's filter, which ignores the form's helper)."""
    key, read = _look(form)
    render = lambda: _render(form, read, lambda: str(as_crispy_form(form)))  # noqa: E731
    if key is None:
        return mark_safe(render())  # noqa: S308 — crispy's own escaped output
    return mark_safe(rendered_once(("crispy filter", *key), render))  # noqa: S308 — crispy's own output, kept
