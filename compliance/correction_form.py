"""An alert's course-correction form, rendered by crispy once per look rather than once a page.

Crispy's layout, field and widget templates cost the alert's page more than most of its queries. An untouched
form's markup depends on a handful of settings (which change is ticked, whether a note and a version are filled
in) and on two of the patient's own values: the note (a published version's reason, clinical text) and the
versions offered. Neither is ever kept: the form is rendered with a marker in the note's place and one marker
option in the versions', the markup kept under what else it depends on, and each
request puts its own note (escaped, as the textarea's template escapes it) and options (written as Django's
``select_option.html`` writes them) in the markers' places. A bound form, with its errors, renders as it is.
"""

from __future__ import annotations

from crispy_forms.utils import render_crispy_form
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe

from accounts.once import rendered_once
from journeys.models import Blueprint

from .forms import CourseCorrectionForm

_NOTE = "note918273645marker"  # words no label, help text or choice of the form spells
_VERSION = "918273646"
_VERSION_LABEL = "version918273646marker"


def _option(value: str, label: str, selected: bool) -> str:
    return f'<option value="{conditional_escape(value)}"{" selected" if selected else ""}>{conditional_escape(label)}</option>'


def _blank(form: CourseCorrectionForm) -> bool:
    """A note of nothing but spaces: crispy squeezes the spaces between two tags, so it is rendered as it is."""
    note = form.get_initial_for_field(form.fields["note"], "note")
    return isinstance(note, str) and note != "" and not note.strip()


def correction_form_html(form: CourseCorrectionForm) -> SafeString:
    """``{% crispy form %}`` for the correction form."""
    if form.is_bound or _blank(form):
        return mark_safe(render_crispy_form(form))  # noqa: S308 — crispy's own escaped output
    field = form.fields["blueprint"]
    note = form.get_initial_for_field(form.fields["note"], "note")
    note_text = "" if note is None or note == "" else str(note)
    empty, *versions = [(str(value), str(label)) for value, label in field.choices]  # the widget's one query
    value = field.prepare_value(form.get_initial_for_field(field, "blueprint"))
    chosen = set(field.widget.format_value(value)) - {""}
    picked = bool(versions and chosen)
    # What else the form's markup depends on: its class fixes the rest (labels, help texts, layout, ids).
    settings = tuple(
        repr(form.get_initial_for_field(form.fields[name], name)) for name in ("change", "resolve")
    )
    look = ("correction form", *settings, bool(note_text), bool(versions), picked, empty)

    def render() -> str:
        """A stand-in with the markers in the patient's values' places (no query: it offers no version)."""
        stand_in = CourseCorrectionForm(
            blueprints=Blueprint.objects.none(),
            initial=form.initial
            | {"note": _NOTE if note_text else "", "blueprint": _VERSION if picked else None},
        )
        stand_in.fields["blueprint"].choices = [empty, (_VERSION, _VERSION_LABEL)] if versions else [empty]
        return render_crispy_form(stand_in)

    html = rendered_once(look, render)
    if versions:
        found = False
        options = []
        for value, label in versions:  # the first match is selected, as ``ChoiceWidget.optgroups`` selects
            selected = not found and value in chosen
            found |= selected
            options.append(_option(value, label, selected))
        marker = _option(_VERSION, _VERSION_LABEL, bool(chosen))
        html = html.replace(marker, " ".join(options), 1)  # crispy wrote "\n  " between options as " "
    if note_text:
        html = html.replace(_NOTE, conditional_escape(note_text), 1)
    return mark_safe(html)  # noqa: S308 — crispy's output, the patient's values escaped and put in
