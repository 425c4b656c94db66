"""Reads for the pipeline board: journeys per stage, conversion between stages, time spent in each.

Every read here runs a fixed number of queries, however many journeys the clinic has.
"""

from __future__ import annotations

import statistics
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from itertools import groupby
from operator import itemgetter
from typing import NamedTuple

from django.db import connection
from django.db.models import (
    Aggregate,
    Count,
    Exists,
    ExpressionWrapper,
    F,
    FloatField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    Window,
)
from django.db.models.functions import Coalesce, Extract, NullIf, RowNumber
from django.shortcuts import get_object_or_404
from django.utils import timezone

from accounts.audit import record_access
from accounts.models import AccessEvent, User
from accounts.queries import Compiled
from patients.models import CareTeamMember, display_name_of

from ..models import ALLOWED_MOVES, PATH, STAGE_TAGLINES, Journey, Program, Stage, StageChange

CARDS_PER_COLUMN = 25
# What a card shows, in ``Card``'s order: the rest of a journey's and its patient's columns stay in the database.
CARD_FIELDS = (
    "pk",
    "patient_id",
    "program_id",
    "stage",
    "stage_entered_at",
    "patient__first_name",
    "patient__last_name",
    "patient__preferred_name",
    "program__name",
    "lead_name",
)
# Counted now up to this; a larger column's count comes from the summary when it is fresh (it moves by a few journeys
# between two refreshes). A hundred: at 100,000 patients every column passed 1,000, and counting each to 1,001
# read 11,000 index entries a view (2.2 ms) where the smaller clinic read a few thousand.
COUNT_CAP = 100
RECENT_EXIT_DAYS = 90
# Conversion and median days read the moves of the last year: the clinic as it runs now, in bounded time.
FLOW_DAYS = 365
BOARD_STAGES = [*PATH, Stage.PAUSED]
RECENT_EXITS = [Stage.DECLINED, Stage.WITHDRAWN]
# Columns journeys end in and pile up: they show the recent period unless the board asks for all of it.
CLOSED_COLUMNS = [Stage.GRADUATED, Stage.ADVOCATE]


class Median(Aggregate):
    """PostgreSQL's ``percentile_cont(0.5) WITHIN GROUP (ORDER BY …)``: the median of a float expression."""

    function = "percentile_cont"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()


_DROP_TARGETS = {
    stage: " ".join(target for target in Stage.values if target in ALLOWED_MOVES[stage])
    for stage in Stage.values
}


class Card(NamedTuple):
    """One journey on the board, read as a row (``CARD_FIELDS``), not as a journey, its patient and its
    program: a board of 225 cards built ~680 model instances."""

    pk: int
    patient_id: int
    program_id: int | None
    stage: str
    stage_entered_at: datetime
    first_name: str
    last_name: str
    preferred_name: str
    program_name: str | None
    lead_name: str | None  # the current lead practitioner's name; None: no lead yet

    @property
    def display_name(self) -> str:
        """``Patient.display_name``."""
        return display_name_of(self.first_name, self.last_name, self.preferred_name)

    @property
    def days_in_stage(self) -> int:
        """``Journey.days_in_stage``."""
        return (timezone.now() - self.stage_entered_at).days


@dataclass(frozen=True)
class StageColumn:
    stage: str
    count: int
    cards: list[Card]
    next_stage: str | None = None
    entered: int = 0
    went_on: int = 0
    median_days: float | None = None
    recent_days: int | None = None  # a closed column shown over its last ``recent_days`` days only

    @property
    def label(self) -> str:
        return Stage(self.stage).label

    @property
    def tagline(self) -> str:
        return STAGE_TAGLINES.get(self.stage, "")

    @property
    def next_label(self) -> str:
        return Stage(self.next_stage).label if self.next_stage else ""

    @property
    def more(self) -> int:
        return self.count - len(self.cards)

    @property
    def moves(self) -> str:
        """The stages a card of this column may be dropped on, space-separated (for the board's script, which
        only dims the others while dragging: ``journey_move`` decides, a paused card resumes where it paused)."""
        return _DROP_TARGETS[self.stage]

    @property
    def conversion(self) -> float | None:
        """Of the journeys that ever entered this stage, the share that went on to the next one."""
        if not self.next_stage or not self.entered:
            return None
        return self.went_on / self.entered

    @property
    def conversion_percent(self) -> int | None:
        share = self.conversion
        return None if share is None else round(share * 100)


@dataclass(frozen=True)
class PipelineBoard:
    columns: list[StageColumn]
    paused: StageColumn
    recent_exits: dict[str, int] = field(default_factory=dict)
    recent_exit_days: int = RECENT_EXIT_DAYS
    total: int = 0
    flow_as_of: datetime | None = None  # when conversion and median days were counted; None: for this view

    @property
    def is_empty(self) -> bool:
        return self.total == 0

    @property
    def patient_ids(self) -> list[int]:
        """Every patient with a card on the board, column by column."""
        return [card.patient_id for column in [*self.columns, self.paused] for card in column.cards]

    @property
    def recent_exit_list(self) -> list[tuple[str, int]]:
        return [(Stage(stage).label, n) for stage, n in self.recent_exits.items()]


def _lead_name():
    # Unsorted: one current lead a patient (``careteam_one_current_lead``); the model's order sorted each card's.
    lead = (
        CareTeamMember.objects.current()
        .filter(patient=OuterRef("patient_id"), role=CareTeamMember.Role.LEAD)
        .order_by()
    )
    name = Coalesce(NullIf(F("user__display_name"), Value("")), F("user__username"))
    return Subquery(lead.annotate(name=name).values("name")[:1])


def pipeline_journeys(*, lead_id: int | None = None, program_id: int | None = None) -> QuerySet[Journey]:
    """All journeys, narrowed to one lead practitioner (0: patients with no lead yet) and/or one program."""
    qs = Journey.objects.all()
    if lead_id is not None:
        leads = CareTeamMember.objects.current().filter(
            patient=OuterRef("patient_id"), role=CareTeamMember.Role.LEAD
        )
        qs = qs.filter(Exists(leads.filter(user_id=lead_id))) if lead_id else qs.filter(~Exists(leads))
    if program_id is not None:
        qs = qs.filter(program_id=program_id)
    return qs


def stage_counts(
    journeys: QuerySet[Journey], *, since: datetime, closed_since: datetime | None = None
) -> dict[str, int]:
    """Journeys per board stage (graduated and advocate since ``closed_since`` when given), the
    declined/withdrawn ones since ``since``, and the total: one query."""
    counts = {stage: Count("pk", filter=Q(stage=stage)) for stage in BOARD_STAGES}
    if closed_since is not None:
        counts |= {
            stage: Count("pk", filter=Q(stage=stage, stage_entered_at__gte=closed_since))
            for stage in CLOSED_COLUMNS
        }
    counts |= {
        stage: Count("pk", filter=Q(stage=stage, stage_entered_at__gte=since)) for stage in RECENT_EXITS
    }
    return journeys.order_by().aggregate(**counts, total=Count("pk"))


def _in_column(
    journeys: QuerySet[Journey], stage: str, closed_since: datetime | None, *, since: datetime | None = None
) -> QuerySet[Journey]:
    """The journeys of one column, as a range of the ``(stage, stage_entered_at, id)`` index: a closed column
    from ``closed_since`` (when given), a recent exit from ``since``."""
    rows = journeys.filter(stage=stage)
    if closed_since is not None and stage in CLOSED_COLUMNS:
        rows = rows.filter(stage_entered_at__gte=closed_since)
    if since is not None and stage in RECENT_EXITS:
        rows = rows.filter(stage_entered_at__gte=since)
    return rows


def _capped_counts_sql(
    journeys: QuerySet[Journey], *, since: datetime, closed_since: datetime | None, cap: int
) -> tuple[list[str], str, list]:
    branches = [
        (stage, _in_column(journeys, stage, closed_since, since=since), cap + 1) for stage in BOARD_STAGES
    ]
    branches += [(stage, _in_column(journeys, stage, None, since=since), cap + 1) for stage in RECENT_EXITS]
    branches.append(("total", journeys, 1))
    parts: list[str] = []
    params: list = []
    quote = connection.ops.quote_name
    for name, rows, limit in branches:
        sql, more = rows.order_by().values("pk")[:limit].query.sql_with_params()
        # Our own compiled querysets and quoted stage names; the values stay parameters.
        parts.append(f"(SELECT COUNT(*) FROM ({sql}) {quote('capped_' + name)}) AS {quote(name)}")  # noqa: S608
        params.extend(more)
    return [name for name, _, _ in branches], "SELECT " + ", ".join(parts), params


def _counted(names: list[str], sql: str, params: list) -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return {name: int(n) for name, n in zip(names, row, strict=True)}


def stage_counts_capped(
    journeys: QuerySet[Journey], *, since: datetime, closed_since: datetime | None, cap: int
) -> dict[str, int]:
    """Like ``stage_counts``, each count stopping at ``cap + 1`` (and ``total`` at 1): one query of LIMITed
    index ranges, so it reads at most ``cap + 1`` index entries a column however large the clinic."""
    return _counted(*_capped_counts_sql(journeys, since=since, closed_since=closed_since, cap=cap))


# The whole clinic's board (no filter: how the pipeline opens) reads the same SQL every time but for its two
# moments: written once per thread with marker moments (``accounts.queries.Compiled`` for the cards), the
# request's moments put in their places. Building the cards' nine-column UNION and the counts' eleven ranges
# cost the ORM more than PostgreSQL takes to run them.
_SINCE_MARKER = datetime(2001, 2, 3, 4, 5, 6, 789_012, tzinfo=UTC)
_CLOSED_MARKER = datetime(2001, 2, 3, 4, 5, 7, 890_123, tzinfo=UTC)
_whole_clinic = threading.local()


def _reads() -> dict:
    return _whole_clinic.__dict__.setdefault("reads", {})


def _places(params: list, marker: datetime) -> list[int]:
    adapted = connection.ops.adapt_datetimefield_value(marker)
    places = [n for n, param in enumerate(params) if type(param) is type(adapted) and param == adapted]
    if not places:
        raise ValueError(f"{marker!r} is not a parameter of the counts")
    return places


def whole_clinic_counts(*, since: datetime, closed_since: datetime | None, cap: int) -> dict[str, int]:
    """``stage_counts_capped(pipeline_journeys(), …)``: the same SQL, written once per thread for the cap and
    for closed columns bounded or not, ``since`` and ``closed_since`` put in."""
    key = ("counts", cap, closed_since is None)
    if key not in _reads():
        closed = None if closed_since is None else _CLOSED_MARKER
        names, sql, params = _capped_counts_sql(
            pipeline_journeys(), since=_SINCE_MARKER, closed_since=closed, cap=cap
        )
        markers = [(_SINCE_MARKER, 0)] + ([] if closed is None else [(closed, 1)])
        _reads()[key] = (names, sql, params, [(_places(params, m), which) for m, which in markers])
    names, sql, params, places = _reads()[key]
    params = list(params)
    values = (since, closed_since)
    for at, which in places:
        adapted = connection.ops.adapt_datetimefield_value(values[which])
        for n in at:
            params[n] = adapted
    return _counted(names, sql, params)


def _cards_query(
    journeys: QuerySet[Journey], *, per_column: int, closed_since: datetime | None
) -> QuerySet[Journey, tuple]:
    board = journeys.filter(stage__in=BOARD_STAGES)
    if closed_since is not None:
        board = board.exclude(stage__in=CLOSED_COLUMNS, stage_entered_at__lt=closed_since)
    if connection.features.supports_slicing_ordering_in_compound:
        columns = [
            _in_column(journeys, stage, closed_since)
            .order_by("stage_entered_at", "pk")
            .values("pk")[:per_column]
            for stage in BOARD_STAGES
        ]
        shown = columns[0].union(*columns[1:], all=True)
    else:
        position = Window(
            RowNumber(), partition_by=[F("stage")], order_by=[F("stage_entered_at").asc(), F("pk").asc()]
        )
        shown = board.annotate(position=position).filter(position__lte=per_column).values("pk")
    return (
        Journey.objects.filter(pk__in=shown)
        .annotate(lead_name=_lead_name())
        .order_by("stage", "stage_entered_at", "pk")
        .values_list(*CARD_FIELDS)
    )


def _by_stage(rows: Iterable[tuple]) -> dict[str, list[Card]]:
    """The rows (ordered by stage, so each stage's are together) as each stage's cards: made and grouped by
    ``map`` and ``groupby``, with no call a card."""
    cards: dict[str, list[Card]] = {stage: [] for stage in BOARD_STAGES}
    card = partial(tuple.__new__, Card)
    for stage, group in groupby(rows, itemgetter(3)):
        cards[stage] = list(map(card, group))
    return cards


def stage_cards(
    journeys: QuerySet[Journey], *, per_column: int, closed_since: datetime | None = None
) -> dict[str, list[Card]]:
    """The journeys longest in each board stage, at most ``per_column`` each, with patient, program and
    lead practitioner's name: one query. Each column's ids come from its own LIMITed read of the
    ``(stage, stage_entered_at, id)`` index, joined in a UNION ALL where the database allows LIMIT inside
    one (PostgreSQL), else from per-stage row numbers; the lead's name is looked up for the cards shown only.
    """
    return _by_stage(_cards_query(journeys, per_column=per_column, closed_since=closed_since))


def whole_clinic_cards(*, per_column: int, closed_since: datetime | None) -> dict[str, list[Card]]:
    """``stage_cards(pipeline_journeys(), …)``: the same SQL, compiled once per thread for the number of cards
    and for closed columns bounded or not, ``closed_since`` put in."""
    key = ("cards", per_column, closed_since is None)
    if key not in _reads():
        if closed_since is None:
            _reads()[key] = Compiled(
                _cards_query(pipeline_journeys(), per_column=per_column, closed_since=None)
            )
        else:
            query = _cards_query(pipeline_journeys(), per_column=per_column, closed_since=_CLOSED_MARKER)
            _reads()[key] = Compiled(query, _CLOSED_MARKER)
    compiled = _reads()[key]
    return _by_stage(compiled.rows() if closed_since is None else compiled.rows(closed_since))


def stage_conversion(changes: QuerySet[StageChange]) -> dict[str, tuple[int, int]]:
    """Per path stage: (journeys that entered it along the path, those that moved on to the next stage).

    One aggregate query over the moves, counted per (from, to): under the allowed moves a journey enters a
    path stage from the stage before it once (a paused journey resuming there is not a new entry) and goes
    on from it to the next once, so counting moves counts journeys, with no DISTINCT to sort.
    """
    moves = {
        (row["from_stage"], row["to_stage"]): row["n"]
        for row in changes.order_by().values("from_stage", "to_stage").annotate(n=Count("pk"))
    }
    return conversion_of_moves(moves)


def conversion_of_moves(moves: Mapping[tuple[str, str], int]) -> dict[str, tuple[int, int]]:
    """``stage_conversion`` from the moves already counted per (from, to) — Insights sums them from its
    daily roll-ups."""
    entered = {stage: 0 for stage in PATH}
    for (from_stage, to_stage), n in moves.items():
        if to_stage in entered and from_stage != Stage.PAUSED:
            entered[to_stage] += n
    return {
        stage: (entered[stage], moves.get((stage, following), 0) if following else 0)
        for stage, following in zip(PATH, [*PATH[1:], None], strict=True)
    }


def stage_median_days(changes: QuerySet[StageChange], *, until: datetime | None = None) -> dict[str, float]:
    """Median days (to a tenth) of a completed stay in each stage, from entering it to the next move (before
    ``until`` when given): one query.

    A journey still in a stage has not finished its stay and does not count; each stay counts once, so a
    journey that paused and resumed contributes two stays. A stay's end is its change's ``left_at``, set by
    the next move; PostgreSQL takes the median too (``percentile_cont``), other databases return the stays'
    lengths and Python takes it.
    """
    stays = changes.order_by().filter(left_at__isnull=False)
    if until is not None:
        stays = stays.filter(left_at__lt=until)
    if connection.vendor == "postgresql":
        days = ExpressionWrapper(
            Extract(F("left_at") - F("at"), "epoch") / 86400.0, output_field=FloatField()
        )
        rows = stays.values("to_stage").annotate(median=Median(days)).values_list("to_stage", "median")
        return {stage: round(float(median), 1) for stage, median in rows}
    by_stage: dict[str, list[float]] = {}
    for stage, at, left_at in stays.values_list("to_stage", "at", "left_at"):
        if left_at is not None:  # filtered out above; the type checker can't know
            by_stage.setdefault(stage, []).append((left_at - at) / timedelta(days=1))
    return {stage: round(statistics.median(days), 1) for stage, days in by_stage.items()}


@dataclass(frozen=True)
class Flow:
    """Conversion (entered, went on) and median days per stage over the moves of the last ``FLOW_DAYS``
    days; ``as_of`` is when they were counted, None when counted for this view."""

    conversion: dict[str, tuple[int, int]]
    medians: dict[str, float]
    as_of: datetime | None = None
    # The whole clinic's ``stage_counts`` when the flow was counted, with the closed columns over their recent
    # days (``counts``) and over all time (``closed_all``): what a column past ``COUNT_CAP`` shows.
    counts: dict[str, int] = field(default_factory=dict)
    closed_all: dict[str, int] = field(default_factory=dict)


def pipeline_flow(*, now: datetime | None = None, journeys: QuerySet[Journey] | None = None) -> Flow:
    """The flow of the last ``FLOW_DAYS`` days, of every journey or of ``journeys``: two queries."""
    now = now or timezone.now()
    changes = StageChange.objects.filter(at__gte=now - timedelta(days=FLOW_DAYS))
    if journeys is not None:
        changes = changes.filter(journey__in=journeys.values("pk"))
    return Flow(conversion=stage_conversion(changes), medians=stage_median_days(changes))


def pipeline_flow_with_counts(*, now: datetime | None = None) -> Flow:
    """The whole clinic's flow and its exact stage counts (for the summary): four queries."""
    now = now or timezone.now()
    since = now - timedelta(days=RECENT_EXIT_DAYS)
    journeys = Journey.objects.all()
    flow = pipeline_flow(now=now)
    every = stage_counts(journeys, since=since)
    return Flow(
        conversion=flow.conversion,
        medians=flow.medians,
        counts=stage_counts(journeys, since=since, closed_since=since),
        closed_all={stage: every[stage] for stage in CLOSED_COLUMNS},
    )


def _counts(
    journeys: QuerySet[Journey], *, since: datetime, closed_since: datetime | None, flow: Flow | None
) -> dict[str, int]:
    """Each column's count: exact, counted now; or, with the summary's counts at hand (the whole clinic),
    counted now up to ``COUNT_CAP`` and taken from the summary past it (a column that large moves by a few
    journeys between two refreshes, and a full count of it would read every journey)."""
    if flow is None or not flow.counts:
        return stage_counts(journeys, since=since, closed_since=closed_since)
    counts = whole_clinic_counts(since=since, closed_since=closed_since, cap=COUNT_CAP)
    stored = flow.counts | (flow.closed_all if closed_since is None else {})
    for stage in [*BOARD_STAGES, *RECENT_EXITS]:
        if counts[stage] > COUNT_CAP:
            counts[stage] = max(stored.get(stage, 0), counts[stage])
    return counts


def pipeline_board(
    *,
    lead_id: int | None = None,
    program_id: int | None = None,
    per_column: int | None = None,
    now: datetime | None = None,
    all_closed: bool = False,
    flow: Flow | None = None,
) -> PipelineBoard:
    """The pipeline board: one column per path stage and the paused ones, each with its exact count,
    its oldest journeys first, its conversion to the next stage and its median days (over the moves of the
    last ``FLOW_DAYS`` days; ``flow`` when the caller has them counted already, for the whole clinic only).
    Four queries, two with ``flow``.

    The graduated and advocate columns hold the last ``RECENT_EXIT_DAYS`` days unless ``all_closed``."""
    per_column = per_column or CARDS_PER_COLUMN
    now = now or timezone.now()
    since = now - timedelta(days=RECENT_EXIT_DAYS)
    closed_since = None if all_closed else since
    journeys = pipeline_journeys(lead_id=lead_id, program_id=program_id)
    narrowed = lead_id is not None or program_id is not None
    counts = _counts(journeys, since=since, closed_since=closed_since, flow=None if narrowed else flow)
    if not counts["total"]:
        empty = [StageColumn(stage=stage, count=0, cards=[]) for stage in PATH]
        return PipelineBoard(columns=empty, paused=StageColumn(stage=Stage.PAUSED, count=0, cards=[]))
    cards = (
        stage_cards(journeys, per_column=per_column, closed_since=closed_since)
        if narrowed
        else whole_clinic_cards(per_column=per_column, closed_since=closed_since)
    )
    if flow is None or narrowed:
        flow = pipeline_flow(now=now, journeys=journeys if narrowed else None)
    conversion, medians = flow.conversion, flow.medians
    columns = [
        StageColumn(
            stage=stage,
            count=counts[stage],
            cards=cards[stage],
            next_stage=following,
            entered=conversion[stage][0],
            went_on=conversion[stage][1],
            median_days=medians.get(stage),
            recent_days=RECENT_EXIT_DAYS if closed_since is not None and stage in CLOSED_COLUMNS else None,
        )
        for stage, following in zip(PATH, [*PATH[1:], None], strict=True)
    ]
    paused = StageColumn(
        stage=Stage.PAUSED,
        count=counts[Stage.PAUSED],
        cards=cards[Stage.PAUSED],
        median_days=medians.get(Stage.PAUSED),
    )
    return PipelineBoard(
        columns=columns,
        paused=paused,
        recent_exits={stage: counts[stage] for stage in RECENT_EXITS},
        total=counts["total"],
        flow_as_of=flow.as_of,
    )


def program_choices() -> QuerySet[Program]:
    return Program.objects.order_by("-active", "name")


def program_options() -> list[tuple[int, str, bool]]:
    """``(id, name, active)`` of every program, the active first, by name: ``program_choices()``' rows for a
    filter's options, its SQL compiled once per thread (the pipeline's filter reads it on every request)."""
    reads = _reads()
    if "programs" not in reads:
        reads["programs"] = Compiled(program_choices().values_list("pk", "name", "active"))
    return reads["programs"].rows()


def journey_for_move(*, user: User, pk: int, action: str = AccessEvent.Action.VIEW) -> Journey:
    """One journey with its patient, for the move form (404 if absent). Showing the form (``action="view"``)
    is audited here; a move is audited by ``journey_move``."""
    journey = get_object_or_404(Journey.objects.select_related("patient", "program"), pk=pk)
    if action == AccessEvent.Action.VIEW:
        record_access(
            action=action, actor=user, patient_id=journey.patient_id, obj=journey, detail="move form"
        )
    return journey
