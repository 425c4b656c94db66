"""Reads for the patient's page: where their journey stands, and one timeline of everything that happened.

The timeline merges six sources (stage changes, visits, visit notes, published care plans, check-ins and
messages). Each source is read once, newest first, at most ``offset + limit + 1`` rows, and the rows are
merged in Python: six queries for any page, however long the history. What a user may read is decided here,
not in the template: a note's body never leaves the database, and a care plan's revision reason (clinical)
reaches practitioners and admins only.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import DateTimeField, ExpressionWrapper, F, Field, Model, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from accounts.dates import day_month_year, day_month_year_time
from accounts.links import url_for_id
from accounts.models import User
from accounts.queries import Compiled, built_per_thread
from nudges.models import Nudge
from patients.models import Patient

from ..models import (
    OFF_PATH,
    PATH,
    STAGE_TAGLINES,
    Blueprint,
    CheckIn,
    ExitReason,
    Journey,
    Program,
    Stage,
    StageChange,
    Visit,
    VisitNote,
)

PAGE_SIZE = 25
MAX_PAGES = 20  # "show older" on the plain page stops growing it here; htmx pages on without a limit

# A check-in closes at the start of the third day after its due day (see journeys.services.checkins), so the
# start of its due day, in the patient's own calendar, is three days before it closes.
CHECKIN_DUE_BEFORE_CLOSE = timedelta(days=3)


def _url(name: str, *args: object) -> str:
    """The URL of a page another part of the app provides, or "" when that page is not installed."""
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return ""


def _id_url(name: str, pk: int) -> str:
    """``_url(name, pk)`` for a page whose one argument is an id, reversed once rather than once a row."""
    try:
        return url_for_id(name, pk)
    except NoReverseMatch:
        return ""


_day = day_month_year  # "j M Y", as the date filter writes it
_moment = day_month_year_time  # "j M Y, H:i"


def _name(user: User | None) -> str:
    return str(user) if user is not None else ""


def _labels(model: type[Model], name: str) -> dict[str, str]:
    """What ``get_<name>_display()`` says for each value of the field, looked up once rather than once a row
    (the ORM flattens and hashes the field's choices on every call)."""
    field = model._meta.get_field(name)
    assert isinstance(field, Field)  # a column with choices, not a relation
    return {value: str(label) for value, label in field.flatchoices}


_STAGE_LABELS = {value: str(label) for value, label in Stage.choices}
_EXIT_LABELS = {value: str(label) for value, label in ExitReason.choices}


# ---------------------------------------------------------------------------------------------- journey


@dataclass(frozen=True)
class Step:
    stage: str
    label: str
    state: str  # done, current, left (where an off-path journey left the path), todo

    @property
    def tagline(self) -> str:
        return STAGE_TAGLINES.get(self.stage, "")


@dataclass(frozen=True)
class JourneySummary:
    journey: Journey
    steps: list[Step]
    percent: int
    exit_reason: str = ""
    exit_note: str = ""

    @property
    def stage_label(self) -> str:
        return Stage(self.journey.stage).label

    @property
    def tagline(self) -> str:
        return STAGE_TAGLINES.get(self.journey.stage, "")

    @property
    def off_path(self) -> bool:
        return self.journey.stage in OFF_PATH


def _steps(stage: str, left_from: str | None) -> tuple[list[Step], int]:
    """The path with this journey's place on it, and how far along it is (percent)."""
    anchor = left_from if stage in OFF_PATH else stage
    reached = PATH.index(anchor) if anchor in PATH else -1
    steps = []
    for index, step in enumerate(PATH):
        if index < reached:
            state = "done"
        elif index == reached:
            state = "left" if stage in OFF_PATH else "current"
        else:
            state = "todo"
        steps.append(Step(stage=step, label=Stage(step).label, state=state))
    return steps, round((reached + 1) * 100 / len(PATH))


@built_per_thread
def _journey_queryset() -> QuerySet[Any]:  # Journey rows with the exit_* annotations
    """``patient_journey``'s query but for the patient, built once per thread (its three subqueries cost more
    Python to build than the database spends on the read). Never evaluated itself: each read filters a copy."""
    exit_change = StageChange.objects.filter(journey=OuterRef("pk"), to_stage=OuterRef("stage")).order_by(
        "-at", "-pk"
    )
    return (
        Journey.objects.select_related("program")
        .annotate(
            exit_reason=Subquery(exit_change.values("reason")[:1]),
            exit_note=Subquery(exit_change.values("note")[:1]),
            exit_from=Subquery(exit_change.values("from_stage")[:1]),
        )
        .order_by(F("ended_at").desc(nulls_first=True), "-started_at", "-pk")
    )


@built_per_thread
def _journey_compiled() -> Compiled[Any]:  # Journey rows with the exit_* annotations
    """``patient_journey``'s read (``.first()``'s, its ``LIMIT 1`` included) compiled once per thread: every
    patient page's header runs it."""
    return Compiled(_journey_queryset().filter(patient_id=_ID_MARKER)[:1], _ID_MARKER)


def patient_journey(patient: Patient) -> JourneySummary | None:
    """The patient's open journey, else their latest one, with where it stands on the path: one query.

    An off-path journey (paused, declined, withdrawn) carries the reason and note of the move that took
    it there, and the stage it left from.
    """
    found = _journey_compiled().rows(patient.pk)
    if not found:
        return None
    journey = found[0]
    off_path = journey.stage in OFF_PATH
    steps, percent = _steps(journey.stage, journey.exit_from)
    reason = journey.exit_reason if off_path and journey.exit_reason in ExitReason.values else ""
    return JourneySummary(
        journey=journey,
        steps=steps,
        percent=percent,
        exit_reason=ExitReason(reason).label if reason else "",
        exit_note=(journey.exit_note or "") if off_path else "",
    )


def startable_programs():
    """Programs a new journey may be started on, for the start form."""
    return Program.objects.filter(active=True).order_by("name")


# --------------------------------------------------------------------------------------------- timeline


@dataclass(frozen=True)
class TimelineEntry:
    """One line of the timeline, with only what its reader may see."""

    kind: str  # stage, visit, note, blueprint, checkin, message
    pk: int
    at: datetime
    title: str
    detail: str = ""
    by: str = ""
    badge: str = ""
    tone: str = "secondary"
    url: str = ""
    date_only: bool = False

    @property
    def anchor(self) -> str:
        return f"timeline-{self.kind}-{self.pk}"


@dataclass(frozen=True)
class TimelinePage:
    entries: list[TimelineEntry]
    offset: int
    has_more: bool

    @property
    def next_page(self) -> int:
        return (self.offset + len(self.entries)) // PAGE_SIZE + 1


# The first page's six reads (``PAGE_SIZE`` entries and one more, to know there are older ones), compiled once
# per thread with a marker id and moment and run with each patient's: every load of the Journey tab read them,
# and compiling them cost the ORM more than PostgreSQL took to run them. Later pages compile as they come.
FIRST_PAGE_ROWS = PAGE_SIZE + 1
_ID_MARKER = 918_273_645
_AT_MARKER = datetime(2001, 2, 3, 4, 5, 6, 789_012, tzinfo=UTC)


@built_per_thread
def _first_page_reads() -> dict[tuple, Compiled]:
    reads: list[tuple[Any, ...]] = [
        (_stage_query,),
        (_visit_query,),
        (_note_query,),
        (_blueprint_query, True),
        (_blueprint_query, False),
        (_checkin_query,),
        (_message_query,),
    ]
    return {
        (build, *extra): Compiled(
            build(_ID_MARKER, _AT_MARKER, FIRST_PAGE_ROWS, *extra), _ID_MARKER, _AT_MARKER
        )
        for build, *extra in reads
    }


# Ties on the same moment are broken the same way on every page: by kind, then newest row first.
KIND_ORDER = {"stage": 6, "visit": 5, "note": 4, "blueprint": 3, "checkin": 2, "message": 1}

# A row of one source as the merge sorts it: its moment, its kind's order and its id, then what makes it an
# entry and the row. Only the rows the page shows are made entries (a source reads up to a page and one more).
type _Row = tuple[datetime, int, int, Callable[[Any], TimelineEntry], Any]


def _read(
    build: Callable[..., QuerySet], patient: Patient, *, now: datetime, rows: int, **extra: bool
) -> list:
    """``build(patient.pk, now, rows, …)``'s rows: the first page's from its SQL compiled once, others anew."""
    if rows != FIRST_PAGE_ROWS:
        return list(build(patient.pk, now, rows, *extra.values()))
    return _first_page_reads()[(build, *extra.values())].rows(patient.pk, now)


def _stage_query(patient_id: int, now: datetime, rows: int) -> QuerySet[StageChange]:
    return (
        StageChange.objects.filter(journey__patient_id=patient_id, at__lte=now)
        .select_related("by")
        .order_by("-at", "-pk")[:rows]
    )


def _stage_entry(change: StageChange) -> TimelineEntry:
    to_label = _STAGE_LABELS[change.to_stage]
    if change.from_stage:
        title = f"{_STAGE_LABELS[change.from_stage]} → {to_label}"
    else:
        title = f"Journey started at {to_label}"
    reason = _EXIT_LABELS.get(change.reason, "")
    detail = " — ".join(part for part in (reason, change.note) if part)
    by = _name(change.by) or ("the public inquiry form" if not change.from_stage else "")
    return TimelineEntry(
        kind="stage",
        pk=change.pk,
        at=change.at,
        title=title,
        detail=detail,
        by=by,
        badge="Stage",
        tone="warning" if change.to_stage in OFF_PATH else "success",
    )


def _stage_entries(patient: Patient, *, now: datetime, rows: int) -> list[_Row]:
    order = KIND_ORDER["stage"]
    return [
        (change.at, order, change.pk, _stage_entry, change)
        for change in _read(_stage_query, patient, now=now, rows=rows)
    ]


VISIT_TONES: dict[str, str] = {
    Visit.Status.SCHEDULED: "info",
    Visit.Status.COMPLETED: "success",
    Visit.Status.CANCELLED: "secondary",
    Visit.Status.NO_SHOW: "warning",
}


def _visit_query(patient_id: int, now: datetime, rows: int) -> QuerySet[Visit]:
    return (
        Visit.objects.filter(patient_id=patient_id, starts_at__lte=now)
        .select_related("practitioner")
        .order_by("-starts_at", "-pk")[:rows]
    )


_VISIT_KINDS = _labels(Visit, "kind")
_VISIT_STATUSES = _labels(Visit, "status")


def _visit_entry(visit: Visit) -> TimelineEntry:
    return TimelineEntry(
        kind="visit",
        pk=visit.pk,
        at=visit.starts_at,
        title=_VISIT_KINDS.get(visit.kind, visit.kind),
        detail=f"{visit.duration_minutes} minutes",
        by=f"with {_name(visit.practitioner)}",
        badge=_VISIT_STATUSES.get(visit.status, visit.status),
        tone=VISIT_TONES.get(visit.status, "secondary"),
        url=_id_url("journeys:visit_detail", visit.pk),
    )


def _visit_entries(patient: Patient, *, now: datetime, rows: int) -> list[_Row]:
    order = KIND_ORDER["visit"]
    return [
        (visit.starts_at, order, visit.pk, _visit_entry, visit)
        for visit in _read(_visit_query, patient, now=now, rows=rows)
    ]


def _note_query(patient_id: int, now: datetime, rows: int) -> QuerySet[VisitNote]:
    # Only the columns the timeline shows: a note's body and intake sections are never read here.
    return (
        VisitNote.objects.filter(visit__patient_id=patient_id, created_at__lte=now)
        .select_related("author", "visit")
        .only(
            "pk",
            "title",
            "created_at",
            "signed_at",
            "addendum_to_id",
            "visit__kind",
            "visit__starts_at",
            "author__username",
            "author__display_name",
        )
        .order_by("-created_at", "-pk")[:rows]
    )


def _note_entry(note: VisitNote) -> TimelineEntry:
    what = "Addendum" if note.addendum_to_id else "Note"
    visit_kind = _VISIT_KINDS.get(note.visit.kind, note.visit.kind)
    return TimelineEntry(
        kind="note",
        pk=note.pk,
        at=note.created_at,
        title=note.title,
        detail=f"{what} on the {visit_kind.lower()} of {_day(note.visit.starts_at)}",
        by=f"by {_name(note.author)}",
        badge="Signed" if note.signed_at else "Unsigned",
        tone="success" if note.signed_at else "light",
        url=_id_url("journeys:note_detail", note.pk),
    )


def _note_entries(patient: Patient, *, now: datetime, rows: int) -> list[_Row]:
    order = KIND_ORDER["note"]
    return [
        (note.created_at, order, note.pk, _note_entry, note)
        for note in _read(_note_query, patient, now=now, rows=rows)
    ]


def _blueprint_query(patient_id: int, now: datetime, rows: int, clinical: bool) -> QuerySet[Blueprint]:
    return (
        Blueprint.objects.filter(
            journey__patient_id=patient_id,
            status__in=[Blueprint.Status.PUBLISHED, Blueprint.Status.SUPERSEDED],
            published_at__lte=now,
        )
        .select_related("published_by")
        .defer("summary", *([] if clinical else ["revision_reason"]))
        .order_by("-published_at", "-pk")[:rows]
    )


def _blueprint_entry(blueprint: Blueprint, clinical: bool) -> TimelineEntry:
    assert blueprint.published_at is not None  # published_at__lte in its query
    current = blueprint.status == Blueprint.Status.PUBLISHED
    return TimelineEntry(
        kind="blueprint",
        pk=blueprint.pk,
        at=blueprint.published_at,
        title=f"Care plan version {blueprint.version} published",
        detail=blueprint.revision_reason if clinical else "",
        by=f"by {_name(blueprint.published_by)}" if blueprint.published_by_id else "",
        badge="Current" if current else "Superseded",
        tone="success" if current else "secondary",
        url=_url("journeys:blueprint_version", blueprint.journey_id, blueprint.version) if clinical else "",
    )


def _clinical_blueprint_entry(blueprint: Blueprint) -> TimelineEntry:
    return _blueprint_entry(blueprint, True)


def _plain_blueprint_entry(blueprint: Blueprint) -> TimelineEntry:
    return _blueprint_entry(blueprint, False)


def _blueprint_entries(patient: Patient, *, now: datetime, rows: int, clinical: bool) -> list[_Row]:
    order = KIND_ORDER["blueprint"]
    make = _clinical_blueprint_entry if clinical else _plain_blueprint_entry
    blueprints = _read(_blueprint_query, patient, now=now, rows=rows, clinical=clinical)
    return [(blueprint.published_at, order, blueprint.pk, make, blueprint) for blueprint in blueprints]


CHECKIN_TONES: dict[str, str] = {CheckIn.Status.ANSWERED: "success", CheckIn.Status.MISSED: "warning"}


def _checkin_query(patient_id: int, now: datetime, rows: int) -> QuerySet[CheckIn]:
    # An answered check-in sits at the moment it was answered, any other at the start of its due day.
    due_at = ExpressionWrapper(F("closes_at") - CHECKIN_DUE_BEFORE_CLOSE, output_field=DateTimeField())
    return (
        CheckIn.objects.filter(journey__patient_id=patient_id)
        .annotate(timeline_at=Coalesce("answered_at", due_at, output_field=DateTimeField()))
        .filter(timeline_at__lte=now)
        .only("pk", "due_on", "status", "answered_at", "closes_at")
        .order_by("-timeline_at", "-pk")[:rows]
    )


_CHECKIN_STATUSES = _labels(CheckIn, "status")


def _checkin_entry(checkin: Any) -> TimelineEntry:  # a CheckIn with timeline_at
    if checkin.status == CheckIn.Status.ANSWERED and checkin.answered_at:
        detail = f"Answered {_moment(checkin.answered_at)}"
    elif checkin.status == CheckIn.Status.MISSED:
        detail = "No answer came before it closed"
    else:
        detail = f"Open for an answer until {_moment(checkin.closes_at)}"
    return TimelineEntry(
        kind="checkin",
        pk=checkin.pk,
        at=checkin.timeline_at,
        title=f"Check-in due {_day(checkin.due_on)}",
        detail=detail,
        badge=_CHECKIN_STATUSES.get(checkin.status, checkin.status)
        if checkin.status != CheckIn.Status.SCHEDULED
        else "Awaiting answer",
        tone=CHECKIN_TONES.get(checkin.status, "info"),
        date_only=checkin.status != CheckIn.Status.ANSWERED,
    )


def _checkin_entries(patient: Patient, *, now: datetime, rows: int) -> list[_Row]:
    order = KIND_ORDER["checkin"]
    return [
        (checkin.timeline_at, order, checkin.pk, _checkin_entry, checkin)
        for checkin in _read(_checkin_query, patient, now=now, rows=rows)
    ]


NUDGE_TONES: dict[str, str] = {
    Nudge.Status.PENDING: "info",
    Nudge.Status.SENDING: "info",
    Nudge.Status.SENT: "success",
    Nudge.Status.FAILED: "danger",
    Nudge.Status.UNKNOWN: "warning",
}


def _message_query(patient_id: int, now: datetime, rows: int) -> QuerySet[Nudge]:
    return (
        Nudge.objects.filter(patient_id=patient_id)
        .annotate(timeline_at=Coalesce("sent_at", "send_at"))
        .filter(timeline_at__lte=now)
        .select_related("created_by")
        .only(
            "pk",
            "kind",
            "channel",
            "status",
            "status_reason",
            "send_at",
            "sent_at",
            "created_by__username",
            "created_by__display_name",
        )
        .order_by("-timeline_at", "-pk")[:rows]
    )


_NUDGE_KINDS = _labels(Nudge, "kind")
_NUDGE_CHANNELS = _labels(Nudge, "channel")
_NUDGE_STATUSES = _labels(Nudge, "status")


def _message_entry(nudge: Any) -> TimelineEntry:  # a Nudge with timeline_at
    channel = _NUDGE_CHANNELS.get(nudge.channel, nudge.channel)
    return TimelineEntry(
        kind="message",
        pk=nudge.pk,
        at=nudge.timeline_at,
        title=_NUDGE_KINDS.get(nudge.kind, nudge.kind),
        detail=f"by {channel}" + (f" — {nudge.status_reason}" if nudge.status_reason else ""),
        by=f"written by {_name(nudge.created_by)}" if nudge.created_by_id else "",
        badge=_NUDGE_STATUSES.get(nudge.status, nudge.status),
        tone=NUDGE_TONES.get(nudge.status, "secondary"),
    )


def _message_entries(patient: Patient, *, now: datetime, rows: int) -> list[_Row]:
    order = KIND_ORDER["message"]
    return [
        (nudge.timeline_at, order, nudge.pk, _message_entry, nudge)
        for nudge in _read(_message_query, patient, now=now, rows=rows)
    ]


def patient_timeline(
    *, patient: Patient, user: User, offset: int = 0, limit: int = PAGE_SIZE, now: datetime | None = None
) -> TimelinePage:
    """Everything that has happened to a patient up to ``now``, newest first, ``limit`` entries from
    ``offset``: six queries, whatever the offset and however long the history.

    Upcoming visits, check-ins and messages are left to their own panels until their moment comes.
    """
    now = now or timezone.now()
    offset, limit = max(offset, 0), max(limit, 1)
    rows = offset + limit + 1
    sources = [
        _stage_entries(patient, now=now, rows=rows),
        _visit_entries(patient, now=now, rows=rows),
        _note_entries(patient, now=now, rows=rows),
        _blueprint_entries(patient, now=now, rows=rows, clinical=user.can_read_clinical),
        _checkin_entries(patient, now=now, rows=rows),
        _message_entries(patient, now=now, rows=rows),
    ]
    merged = heapq.merge(*sources, reverse=True)  # (moment, kind, id) is unique: nothing after it is compared
    window = list(itertools.islice(merged, offset, offset + limit + 1))
    entries = [make(row) for _, _, _, make, row in window[:limit]]
    return TimelinePage(entries=entries, offset=offset, has_more=len(window) > limit)
