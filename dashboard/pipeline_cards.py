"""The pipeline board's cards, written in Python: a board shows up to 225 of them, and the template engine's
dozen lookups and filters a card cost more than the database's whole read of the board. The markup is
the card's only copy; every text in it is escaped, as the template engine would."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.utils.safestring import SafeString, mark_safe

from accounts.links import url_around_id
from accounts.markup import escaped
from journeys.selectors.pipeline import Card, PipelineBoard, StageColumn

NO_LEAD = '<span class="badge text-bg-warning">No lead yet</span>'
NO_PROGRAM = "no program yet"


def _cards(
    cards: Iterable[Card],
    *,
    stage: str,
    here: str,
    now: datetime,
    leads: dict[str | None, str],
    programs: dict[str | None, str],
) -> str:
    """The cards' HTML: each text escaped (``escaped``, as the template engine does), the values common to the
    column or the board escaped once (a lead's or a program's name once a board, kept in ``leads`` and
    ``programs``); ids and day counts are integers."""
    stage = escaped(stage)
    move_head, move_tail = (escaped(part) for part in url_around_id("journeys:move"))
    patient_head, patient_tail = (escaped(part) for part in url_around_id("dashboard:patient"))
    parts = []
    for pk, patient_id, _, _, entered, first_name, last_name, preferred_name, program, lead in cards:
        days = (now - entered).days
        name = escaped(f"{preferred_name or first_name} {last_name}".strip())
        move = f"{move_head}{pk}{move_tail}"
        try:
            lead_html = leads[lead]
        except KeyError:
            lead_html = leads[lead] = escaped(lead)
        try:
            program_html = programs[program]
        except KeyError:
            program_html = programs[program] = escaped(program)
        day_word = "day" if days == 1 else "days"
        parts.append(
            f'<article class="card mb-2 pipeline-card" id="journey-{pk}" data-move-url="{move}"'
            f' aria-label="{name}, {days} {day_word} at {stage}">'
            '<div class="card-body p-2">'
            f'<a href="{patient_head}{patient_id}{patient_tail}" class="fw-semibold">{name}</a>'
            '<div class="small text-body-secondary">'
            f'<span class="badge badge-soft text-nowrap" title="Days in {stage}">{days} {day_word}</span>'
            f" {lead_html} · {program_html}"
            "</div>"
            f'<button type="button" class="btn btn-outline-primary btn-sm py-0 mt-1" hx-get="{move}?next={here}"'
            f' hx-target="#move-{pk}" hx-swap="innerHTML">Move…</button>'
            f'<div id="move-{pk}" data-move-slot></div>'
            "</div></article>"
        )
    return "".join(parts)


def board_cards(
    board: PipelineBoard, *, here: str, now: datetime
) -> tuple[list[tuple[StageColumn, SafeString]], SafeString]:
    """Each path column with its cards as HTML, and the paused ones' cards (each move form returns to ``here``)."""
    # A card with no lead (or a blank name) says so; one with no program (so no program's name) says so.
    kept = {"leads": {None: NO_LEAD, "": NO_LEAD}, "programs": {None: NO_PROGRAM}}
    here = escaped(here)

    def html(column: StageColumn) -> SafeString:
        # Every value in the cards is escaped or an integer.
        return mark_safe(_cards(column.cards, stage=column.label, here=here, now=now, **kept))  # noqa: S308

    return [(column, html(column)) for column in board.columns], html(board.paused)
