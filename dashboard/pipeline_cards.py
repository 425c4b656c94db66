"""The pipeline board's cards, written in Python: a board shows up to 250 of them, and the template engine's
dozen lookups and filters a card cost more than the database's whole read of the board. The markup is
the card's only copy; every text in it is escaped, as the template engine would."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from html import escape

from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe

from journeys.models import Journey
from journeys.selectors.pipeline import PipelineBoard, StageColumn

CARD = (
    '<article class="card mb-2 pipeline-card" id="journey-{pk}" data-move-url="{move}"'
    ' aria-label="{name}, {days} at {stage}">'
    '<div class="card-body p-2">'
    '<a href="{patient}" class="fw-semibold">{name}</a>'
    '<div class="small text-body-secondary">'
    '<span class="badge badge-soft text-nowrap" title="Days in {stage}">{days}</span> {lead} · {program}'
    "</div>"
    '<button type="button" class="btn btn-outline-primary btn-sm py-0 mt-1" hx-get="{move}?next={here}"'
    ' hx-target="#move-{pk}" hx-swap="innerHTML">Move…</button>'
    '<div id="move-{pk}" data-move-slot></div>'
    "</div></article>"
)
NO_LEAD = mark_safe('<span class="badge text-bg-warning">No lead yet</span>')
_PK = 987654321


def _url_maker(name: str) -> Callable[[int], str]:
    """``pk -> URL`` for the route ``name`` (one ``<int:pk>``), reversed once rather than once a card."""
    prefix, _, suffix = reverse(name, args=[_PK]).rpartition(str(_PK))
    return lambda pk: f"{prefix}{pk}{suffix}"


def _cards(
    cards: Iterable[Journey],
    *,
    stage: str,
    here: str,
    now: datetime,
    move_url: Callable[[int], str],
    patient_url: Callable[[int], str],
) -> SafeString:
    """The cards' HTML: each text escaped (``html.escape``, as Django's ``escape`` does), the values common to
    the column escaped once; ids and day counts are integers."""
    stage, here = escape(stage), escape(here)
    no_program = "no program yet"
    parts = []
    for journey in cards:
        days = (now - journey.stage_entered_at).days
        lead = journey.lead_name  # type: ignore[attr-defined]
        parts.append(
            CARD.format(
                pk=journey.pk,
                move=escape(move_url(journey.pk)),
                patient=escape(patient_url(journey.patient_id)),
                name=escape(journey.patient.display_name),
                days=f"{days} day{'' if days == 1 else 's'}",
                stage=stage,
                here=here,
                lead=escape(lead) if lead else NO_LEAD,
                program=escape(journey.program.name) if journey.program_id else no_program,
            )
        )
    return mark_safe("".join(parts))  # noqa: S308 — every value above is escaped or an integer


def board_cards(
    board: PipelineBoard, *, here: str, now: datetime
) -> tuple[list[tuple[StageColumn, SafeString]], SafeString]:
    """Each path column with its cards as HTML, and the paused ones' cards (each move form returns to ``here``)."""
    makers = {"move_url": _url_maker("journeys:move"), "patient_url": _url_maker("dashboard:patient")}

    def html(column: StageColumn) -> SafeString:
        return _cards(column.cards, stage=column.label, here=here, now=now, **makers)

    return [(column, html(column)) for column in board.columns], html(board.paused)
