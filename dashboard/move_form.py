"""The patient header's "Move stage…" form, rendered by crispy once per set of moves rather than once a page.

Crispy's layout, field and widget templates cost the header more than its queries do, and on the patient page
the form is always unbound: its markup depends only on the moves offered and on the journey's id (in each
element's ``id``/``for``). So it is rendered once for each set of moves with a marker for the id, kept, and the
journey's id put in the marker's place. What crispy writes stays the only copy of the markup.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from crispy_forms.utils import render_crispy_form
from django.utils.safestring import SafeString, mark_safe

from accounts.once import rendered_once
from journeys.forms.move import MoveForm
from journeys.models import OFF_PATH, Journey

_MARKER = 918_273_645  # an id that no label, choice or attribute of the form spells


def _kept(look: tuple, pk: int, form: Callable[[], MoveForm]) -> SafeString:
    def render() -> str:
        made = form()
        real = made.auto_id
        made.auto_id = str(real).replace(str(pk), str(_MARKER), 1)
        try:
            return render_crispy_form(made)
        finally:
            made.auto_id = real

    html = rendered_once(look, render)
    return mark_safe(html.replace(str(_MARKER), str(pk)))  # noqa: S308 — crispy's output, an integer put in


def move_form_html(form: MoveForm) -> SafeString:
    """``{% crispy form %}`` for an unbound ``MoveForm`` (a bound one, with its errors, renders as it is)."""
    if form.is_bound:
        return mark_safe(render_crispy_form(form))  # noqa: S308 — crispy's own escaped output
    pk = form.journey.pk
    look = ("move form", tuple(form.moves), form.offers_exit, str(form.auto_id).replace(str(pk), "{pk}", 1))
    return _kept(look, pk, lambda: form)


def unbound_move_form_html(*, journey: Journey, moves: Sequence[str]) -> SafeString:
    """``move_form_html(MoveForm(journey=journey))`` for its ``moves`` worked out already: the form itself (its
    fields deep-copied, its layout built) is made only the first time a set of moves is written."""
    look = ("move form", tuple(moves), any(stage in OFF_PATH for stage in moves), "move{pk}_%s")
    return _kept(look, journey.pk, lambda: MoveForm(journey=journey, moves=list(moves)))
