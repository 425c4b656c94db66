"""The pipeline board's cards and columns, written in Python: a board shows up to 225 cards, and the template
engine's dozen lookups and filters a card cost more than the database's whole read of the board; its nine
columns' headings, figures and links cost ~11,000 calls more. The markup is the only copy, the columns' written
as ``dashboard/pipeline.html``'s loop wrote them (its white space too); every text in it is escaped, as the
template engine would."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

from django.template.defaultfilters import floatformat
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language

from accounts.links import url_around_id
from accounts.markup import ENTITIES, escaped
from journeys.models import STAGE_TAGLINES, Stage
from journeys.selectors.pipeline import Card, PipelineBoard, StageColumn

NO_LEAD = '<span class="badge text-bg-warning">No lead yet</span>'
NO_PROGRAM = "no program yet"


# Each stage's value, name and tagline, escaped once for the process (they are the code's).
_STAGE_TEXTS = {
    stage.value: (escaped(stage.value), escaped(stage.label), escaped(STAGE_TAGLINES.get(stage, "")))
    for stage in Stage
}

# What ``str.strip()`` strips: a name is stripped only when it starts or ends with one of them.
_SPACE = frozenset(chr(code) for code in range(0x3001) if chr(code).isspace())


def _links() -> tuple[str, str, str, str]:
    """What comes before and after the id in a move's and a patient's link, escaped: once a board."""
    move, patient = url_around_id("journeys:move"), url_around_id("dashboard:patient")
    return escaped(move[0]), escaped(move[1]), escaped(patient[0]), escaped(patient[1])


def _escaped_all(texts: list[str]) -> list[str]:
    """Each text escaped as ``escaped`` escapes a ``str``, by one ``translate`` of them all joined by NUL, which
    no entity spells and PostgreSQL's text never holds (when one does, each is escaped on its own)."""
    every = "\x00".join(texts).translate(ENTITIES).split("\x00")
    return every if len(every) == len(texts) else [text.translate(ENTITIES) for text in texts]


def _cards(
    cards: list[Card],
    names: list[str],
    *,
    stage: str,
    here: str,
    now: datetime,
    leads: dict[str | None, str],
    programs: dict[str | None, str],
    links: tuple[str, str, str, str],
) -> str:
    """The cards' HTML, each with its patient's name (``names``, escaped); the values common to the column or
    the board escaped once (each lead's and program's name, in ``leads`` and ``programs``); ids and day counts
    are integers. One comprehension with no call a card but its joining (``for x in [value]`` names a value
    once for the card)."""
    stage = _STAGE_TEXTS[stage][1]
    move_head, move_tail, patient_head, patient_tail = links
    return "".join(
        [
            f'<article class="card mb-2 pipeline-card" id="journey-{pk}" data-move-url="{move}"'
            f' aria-label="{name}, {days} {day_word} at {stage}">'
            '<div class="card-body p-2">'
            f'<a href="{patient_head}{patient_id}{patient_tail}" class="fw-semibold">{name}</a>'
            '<div class="small text-body-secondary">'
            f'<span class="badge badge-soft text-nowrap" title="Days in {stage}">{days} {day_word}</span>'
            f" {leads[lead]} · {programs[program]}"
            "</div>"
            f'<button type="button" class="btn btn-outline-primary btn-sm py-0 mt-1" hx-get="{move}?next={here}"'
            f' hx-target="#move-{pk}" hx-swap="innerHTML">Move…</button>'
            f'<div id="move-{pk}" data-move-slot></div>'
            "</div></article>"
            for (pk, patient_id, _, _, entered, _, _, _, program, lead), name in zip(
                cards, names, strict=True
            )
            for days in [(now - entered).days]
            for day_word in ["day" if days == 1 else "days"]
            for move in [f"{move_head}{pk}{move_tail}"]
        ]
    )


def _board_cards(
    board: PipelineBoard, *, here: str, now: datetime
) -> tuple[list[tuple[StageColumn, str]], str]:
    shown = [*board.columns, board.paused]
    every = [card for column in shown for card in column.cards]
    space = _SPACE
    # ``Patient.display_name``: never empty (a space at least), stripped only when it starts or ends with space.
    names = [f"{card.preferred_name or card.first_name} {card.last_name}" for card in every]
    names = [name if name[0] not in space and name[-1] not in space else name.strip() for name in names]
    leads = list({card.lead_name for card in every} - {None, ""})
    programs = list({card.program_name for card in every} - {None})
    texts = _escaped_all([*names, *leads, *programs])
    named, led = len(names), len(names) + len(leads)
    # A card with no lead (or a blank name) says so; one with no program (so no program's name) says so.
    kept = {
        "leads": dict(zip(leads, texts[named:led], strict=True)) | {None: NO_LEAD, "": NO_LEAD},
        "programs": dict(zip(programs, texts[led:], strict=True)) | {None: NO_PROGRAM},
    }
    here, links = escaped(here), _links()
    html, start = [], 0
    for column in shown:
        end = start + len(column.cards)
        html.append(
            _cards(
                column.cards, texts[start:end], stage=column.stage, here=here, now=now, links=links, **kept
            )
        )
        start = end
    return list(zip(board.columns, html[:-1], strict=True)), html[-1]  # the paused ones' last


def board_cards(
    board: PipelineBoard, *, here: str, now: datetime
) -> tuple[list[tuple[StageColumn, SafeString]], SafeString]:
    """Each path column with its cards as HTML, and the paused ones' cards (each move form returns to ``here``)."""
    columns, paused = _board_cards(board, here=here, now=now)
    # Every value in the cards is escaped or an integer.
    return [(column, mark_safe(html)) for column, html in columns], mark_safe(paused)  # noqa: S308


# The columns whose "All time" a board over all time offers to bring back to the recent days.
_ALL_TIME_COLUMNS = (Stage.GRADUATED, Stage.ADVOCATE)


def _plural(n: float) -> str:
    """``{{ n|pluralize }}`` for a number."""
    return "" if n == 1 else "s"


@lru_cache(maxsize=4096)
def _median_in(days: float, language: str | None) -> str:
    return str(floatformat(days, "-1"))


def _median(days: float) -> str:
    """``{{ days|floatformat:"-1" }}``, kept for the process (bounded): a board shows the same few medians."""
    return _median_in(days, get_language())


def _column(column: StageColumn, cards: str, *, toggle: str, all_closed: bool) -> str:
    """One column as the loop of ``dashboard/pipeline.html`` wrote it (``toggle``: the query string escaped)."""
    stage, label, tagline = _STAGE_TEXTS[column.stage]
    count = column.count
    if column.recent_days:
        recent = (
            '\n                  <div class="text-body-secondary">'
            f'\n                    Last {int(column.recent_days)} days · <a href="?{toggle}">show all</a>'
            "\n                  </div>\n                "
        )
    elif all_closed and column.stage in _ALL_TIME_COLUMNS:
        recent = (
            '\n                  <div class="text-body-secondary">'
            f'\n                    All time · <a href="?{toggle}">recent only</a>'
            "\n                  </div>\n                "
        )
    else:
        recent = ""
    if column.next_stage:
        next_label = _STAGE_TEXTS[column.next_stage][1]
        percent = column.conversion_percent
        conversion = "—" if column.conversion is None else f"{percent}%"
        entered, went_on = int(column.entered), int(column.went_on)
        following = (
            f'\n                  <div title="Of {entered} journey{_plural(entered)} that reached {label} in the'
            f' last year, {went_on} went on to {next_label}">'
            f"\n                    On to {next_label}:"
            "\n                    <strong>"
            f"\n                      \n                        {conversion}\n                      "
            "\n                    </strong>"
            "\n                  </div>\n                "
        )
    else:
        following = ""
    median = column.median_days
    stay = "—" if median is None else f"{_median(median)} day{_plural(float(median))}"
    more = column.more
    return (
        "\n          <section"
        ' class="pipeline-column"'
        f'\n                   id="stage-{stage}"'
        f'\n                   aria-labelledby="stage-{stage}-title">'
        f'\n            <details open data-collapse-stage="{stage}">'
        '\n              <summary class="pipeline-column-head"'
        f'\n                       title="Fold or unfold {label}">'
        f'\n                <h2 class="h6 mb-0" id="stage-{stage}-title">{label}</h2>'
        '\n                <span class="badge text-bg-secondary"'
        f'\n                      title="{count} patient{_plural(count)} at {label}">{count}</span>'
        "\n              </summary>"
        '\n              <div class="pipeline-column-stats small">'
        f'\n                <div class="text-body-secondary fst-italic">{tagline}</div>'
        f"\n                {recent}"
        f"\n                {following}"
        f'\n                <div title="The middle length of a finished stay at {label}">'
        "\n                  Median stay:"
        "\n                  <strong>"
        f"\n                    \n                      {stay}\n                    "
        "\n                  </strong>"
        "\n                </div>"
        "\n              </div>"
        '\n              <div class="pipeline-cards"'
        f'\n                   data-stage-list="{stage}"'
        f'\n                   data-moves="{escaped(column.moves)}"'
        '\n                   data-empty="No one at this step right now.">'
        f"\n                {cards}"
        "\n              </div>"
        "\n              "
        + (f'<p class="small text-body-secondary px-1 mb-0">and {more} more</p>' if more else "")
        + "\n            </details>"
        "\n          </section>"
        "\n        "
    )


def board_columns(
    columns: list[tuple[StageColumn, str]], *, closed_toggle: str, all_closed: bool
) -> SafeString:
    """The path's columns with their cards (``board_cards``), as ``dashboard/pipeline.html``'s loop over them
    wrote them; ``closed_toggle`` is the query string of the board with its closed columns the other way."""
    toggle = escaped(closed_toggle)
    html = "".join(_column(column, cards, toggle=toggle, all_closed=all_closed) for column, cards in columns)
    return mark_safe(html)  # noqa: S308 — every text above is escaped, a number or our constant


def paused_section(board: PipelineBoard, cards: str) -> SafeString:
    """The paused journeys' section with their cards (``board_cards``), and the recent exits from the path,
    as ``dashboard/pipeline.html`` wrote it."""
    paused = board.paused
    exits = board.recent_exit_list
    last = len(exits) - 1
    left = "".join(
        [
            f"\n                {escaped(label.lower())} <strong>{int(count)}</strong>"
            f"\n                {'' if n == last else '·'}\n              "
            for n, (label, count) in enumerate(exits)
        ]
    )
    more = paused.more
    html = (
        '<section class="card mt-3" id="stage-paused" aria-labelledby="stage-paused-title">'
        '\n        <div class="card-body">'
        '\n          <div class="d-flex flex-wrap justify-content-between align-items-baseline gap-2 mb-2">'
        '\n            <h2 class="h6 mb-0" id="stage-paused-title">'
        f'\n              Paused <span class="badge text-bg-secondary">{int(paused.count)}</span>'
        "\n            </h2>"
        '\n            <div class="small text-body-secondary">'
        f"\n              Left the path in the last {int(board.recent_exit_days)} days:"
        f"\n              {left}"
        "\n            </div>"
        "\n          </div>"
        '\n          <div class="pipeline-cards pipeline-cards-row"'
        '\n               data-stage-list="paused"'
        f'\n               data-moves="{escaped(paused.moves)}"'
        '\n               data-empty="No one is paused. Drop a card here to pause a journey.">'
        f"\n            {cards}"
        "\n          </div>"
        "\n          "
        + (f'<p class="small text-body-secondary mb-0">and {more} more</p>' if more else "")
        + "\n        </div>"
        "\n      </section>"
    )
    return mark_safe(html)  # noqa: S308 — every text above is escaped, a number or our constant


def board_html(
    board: PipelineBoard, *, here: str, now: datetime, closed_toggle: str, all_closed: bool
) -> tuple[SafeString, SafeString]:
    """The board's path columns and its paused section, with their cards (each move form returning to
    ``here``); ``closed_toggle`` is the board's query string with its closed columns the other way."""
    columns, paused = _board_cards(board, here=here, now=now)
    return board_columns(columns, closed_toggle=closed_toggle, all_closed=all_closed), paused_section(
        board, paused
    )
