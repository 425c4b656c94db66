"""Reads for the pipeline board: journeys per stage, conversion between stages, time spent in each.

Every read here runs a fixed number of queries, however many journeys the clinic has.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Subquery, Value, Window
from django.db.models.functions import Coalesce, Lead, NullIf, RowNumber
from django.shortcuts import get_object_or_404
from django.utils import timezone

from accounts.audit import record_access
from accounts.models import AccessEvent, User
from patients.models import CareTeamMember

from ..models import ALLOWED_MOVES, PATH, STAGE_TAGLINES, Journey, Program, Stage, StageChange

CARDS_PER_COLUMN = 25
RECENT_EXIT_DAYS = 90
# Conversion and median days read the moves of the last year: the clinic as it runs now, in bounded time.
FLOW_DAYS = 365
BOARD_STAGES = [*PATH, Stage.PAUSED]
RECENT_EXITS = [Stage.DECLINED, Stage.WITHDRAWN]
# Columns journeys end in and pile up: they show the recent period unless the board asks for all of it.
CLOSED_COLUMNS = [Stage.GRADUATED, Stage.ADVOCATE]
MEDIAN_SQL = (
    "SELECT stays.to_stage, percentile_cont(0.5) WITHIN GROUP "
    "(ORDER BY EXTRACT(EPOCH FROM stays.ended - stays.at) / 86400.0) "
    "FROM ({stays}) stays WHERE stays.ended IS NOT NULL GROUP BY stays.to_stage"
)


@dataclass(frozen=True)
class StageColumn:
    stage: str
    count: int
    cards: list[Journey]
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
        return " ".join(stage for stage in Stage.values if stage in ALLOWED_MOVES[self.stage])

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

    @property
    def is_empty(self) -> bool:
        return self.total == 0

    @property
    def patient_ids(self) -> list[int]:
        """Every patient with a card on the board, column by column."""
        return [journey.patient_id for column in [*self.columns, self.paused] for journey in column.cards]

    @property
    def recent_exit_list(self) -> list[tuple[str, int]]:
        return [(Stage(stage).label, n) for stage, n in self.recent_exits.items()]


def _lead_name():
    lead = CareTeamMember.objects.current().filter(
        patient=OuterRef("patient_id"), role=CareTeamMember.Role.LEAD
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


def stage_cards(
    journeys: QuerySet[Journey], *, per_column: int, closed_since: datetime | None = None
) -> dict[str, list[Journey]]:
    """The journeys longest in each board stage, at most ``per_column`` each, with patient, program and
    lead practitioner's name: one query. The per-stage row numbers are taken over bare journeys first, so
    the lead's name is looked up for the cards shown only."""
    position = Window(
        RowNumber(), partition_by=[F("stage")], order_by=[F("stage_entered_at").asc(), F("pk").asc()]
    )
    board = journeys.filter(stage__in=BOARD_STAGES)
    if closed_since is not None:
        board = board.exclude(stage__in=CLOSED_COLUMNS, stage_entered_at__lt=closed_since)
    shown = board.annotate(position=position).filter(position__lte=per_column).values("pk")
    rows = (
        Journey.objects.filter(pk__in=shown)
        .select_related("patient", "program")
        .annotate(lead_name=_lead_name())
        .order_by("stage", "stage_entered_at", "pk")
    )
    cards: dict[str, list[Journey]] = {stage: [] for stage in BOARD_STAGES}
    for journey in rows:
        cards[journey.stage].append(journey)
    return cards


def stage_conversion(changes: QuerySet[StageChange]) -> dict[str, tuple[int, int]]:
    """Per path stage: (journeys that ever entered it, those of them that moved on to the next stage).

    One aggregate query. Under the allowed moves the next stage is only ever entered from this one (a
    paused journey resumes where it paused), so "went on" is a move from this stage to the next.
    """
    counts = {}
    for stage, following in zip(PATH, [*PATH[1:], None], strict=True):
        counts[f"entered_{stage}"] = Count("journey", distinct=True, filter=Q(to_stage=stage))
        if following:
            went_on = Q(from_stage=stage, to_stage=following)
            counts[f"went_on_{stage}"] = Count("journey", distinct=True, filter=went_on)
    totals = changes.order_by().aggregate(**counts)
    return {stage: (totals[f"entered_{stage}"], totals.get(f"went_on_{stage}", 0)) for stage in PATH}


def stage_median_days(changes: QuerySet[StageChange]) -> dict[str, float]:
    """Median days (to a tenth) of a completed stay in each stage, from entering it to the next move: one query.

    A journey still in a stage has not finished its stay and does not count; each stay counts once, so a
    journey that paused and resumed contributes two stays. Each stay's end is the journey's next move
    (``LEAD`` over the journey's changes, in SQL); PostgreSQL takes the median too (``percentile_cont``),
    other databases return the stays per stage and Python takes it.
    """
    stays = changes.order_by().annotate(
        ended=Window(Lead("at"), partition_by=[F("journey_id")], order_by=[F("at").asc(), F("pk").asc()])
    )
    inner, params = stays.values("to_stage", "at", "ended").query.sql_with_params()
    if connection.vendor == "postgresql":
        sql = MEDIAN_SQL.format(stays=inner)  # the ORM's own SQL inside; every value is a parameter
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return {stage: round(float(days), 1) for stage, days in cursor.fetchall()}
    by_stage: dict[str, list[float]] = {}
    for row in stays.values_list("to_stage", "at", "ended"):
        if row[2] is not None:
            by_stage.setdefault(row[0], []).append((row[2] - row[1]) / timedelta(days=1))
    return {stage: round(statistics.median(days), 1) for stage, days in by_stage.items()}


def pipeline_board(
    *,
    lead_id: int | None = None,
    program_id: int | None = None,
    per_column: int | None = None,
    now: datetime | None = None,
    all_closed: bool = False,
) -> PipelineBoard:
    """The pipeline board: one column per path stage and the paused ones, each with its exact count,
    its oldest journeys first, its conversion to the next stage and its median days (over the moves of the
    last ``FLOW_DAYS`` days). Four queries.

    The graduated and advocate columns hold the last ``RECENT_EXIT_DAYS`` days unless ``all_closed``."""
    per_column = per_column or CARDS_PER_COLUMN
    now = now or timezone.now()
    since = now - timedelta(days=RECENT_EXIT_DAYS)
    closed_since = None if all_closed else since
    journeys = pipeline_journeys(lead_id=lead_id, program_id=program_id)
    counts = stage_counts(journeys, since=since, closed_since=closed_since)
    if not counts["total"]:
        empty = [StageColumn(stage=stage, count=0, cards=[]) for stage in PATH]
        return PipelineBoard(columns=empty, paused=StageColumn(stage=Stage.PAUSED, count=0, cards=[]))
    cards = stage_cards(journeys, per_column=per_column, closed_since=closed_since)
    changes = StageChange.objects.filter(at__gte=now - timedelta(days=FLOW_DAYS))
    if lead_id is not None or program_id is not None:
        changes = changes.filter(journey__in=journeys.values("pk"))
    conversion = stage_conversion(changes)
    medians = stage_median_days(changes)
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
    )


def program_choices() -> QuerySet[Program]:
    return Program.objects.order_by("-active", "name")


def journey_for_move(*, user: User, pk: int, action: str = AccessEvent.Action.VIEW) -> Journey:
    """One journey with its patient, for the move form (404 if absent). Showing the form (``action="view"``)
    is audited here; a move is audited by ``journey_move``."""
    journey = get_object_or_404(Journey.objects.select_related("patient", "program"), pk=pk)
    if action == AccessEvent.Action.VIEW:
        record_access(
            action=action, actor=user, patient_id=journey.patient_id, obj=journey, detail="move form"
        )
    return journey
