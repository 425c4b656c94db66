"""Today: what each person needs to see this morning, read across apps in a fixed number of queries.

A practitioner opens on their own day (``scope="mine"``): their visits, the notes they have still to sign,
their patients' open alerts and the check-ins their patients answered since yesterday. Staff and admins
open on the whole practice (``scope="practice"``): everyone's visits, the inquiries waiting and how long,
the messages to review, the patients without a lead. Whoever practises may switch between the two. Every
list is capped and every count stops at ``COUNT_CAP``; "my patients" is the current care team (an EXISTS for
alerts, ``InSmallSet`` for the answered check-ins, whose EXISTS PostgreSQL hashed over every journey).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import NamedTuple

from django.db.models import Exists, OuterRef, QuerySet, Subquery
from django.utils import timezone

from accounts.models import User
from accounts.queries import Compiled, CountsCompiled, ExistsEach, InSmallSet, adapted, built_per_thread
from compliance.models import Alert
from journeys.models import CheckIn, Journey, Stage, Visit, VisitNote
from nudges.models import Nudge
from patients.models import CareTeamMember, Patient, display_name_of
from patients.validation import PRACTISING_ROLES

SHOWN = 10
VISITS_SHOWN = 50
NEXT_SHOWN = 5  # the next visits shown on a day with none
COUNT_CAP = 1_000  # "1,000+" is all Today needs to say about a long list
MINE, PRACTICE = "mine", "practice"


# Each list's rows as plain values (``values_list``): a page of Today built no model, where fifty visits with
# their patient and practitioner were 150 models of every column each. The patient's names come with each row.
_NAMES = ("first_name", "last_name", "preferred_name")


class VisitRow(NamedTuple):
    pk: int
    patient_id: int
    practitioner_id: int
    kind: str
    starts_at: datetime
    status: str
    first_name: str
    last_name: str
    preferred_name: str
    practitioner_display_name: str
    practitioner_username: str

    @property
    def patient_name(self) -> str:
        return display_name_of(self.first_name, self.last_name, self.preferred_name)

    @property
    def practitioner(self) -> str:
        """``str(visit.practitioner)``."""
        return self.practitioner_display_name or self.practitioner_username


_VISIT_COLUMNS = (
    "pk",
    "patient_id",
    "practitioner_id",
    "kind",
    "starts_at",
    "status",
    *(f"patient__{name}" for name in _NAMES),
    "practitioner__display_name",
    "practitioner__username",
)


class AlertRow(NamedTuple):
    pk: int
    patient_id: int
    opened_at: datetime
    escalated_at: datetime | None
    reason: str
    detail: str
    reasons: list
    first_name: str
    last_name: str
    preferred_name: str

    @property
    def patient_name(self) -> str:
        return display_name_of(self.first_name, self.last_name, self.preferred_name)


_ALERT_COLUMNS = (
    "pk",
    "patient_id",
    "opened_at",
    "escalated_at",
    "reason",
    "detail",
    "reasons",
    *(f"patient__{name}" for name in _NAMES),
)


class NoteRow(NamedTuple):
    pk: int
    title: str
    patient_id: int
    visit_starts_at: datetime
    first_name: str
    last_name: str
    preferred_name: str

    @property
    def patient_name(self) -> str:
        return display_name_of(self.first_name, self.last_name, self.preferred_name)


_NOTE_COLUMNS = (
    "pk",
    "title",
    "visit__patient_id",
    "visit__starts_at",
    *(f"visit__patient__{n}" for n in _NAMES),
)


class AnsweredRow(NamedTuple):
    pk: int
    answered_at: datetime
    patient_id: int
    first_name: str
    last_name: str
    preferred_name: str

    @property
    def patient_name(self) -> str:
        return display_name_of(self.first_name, self.last_name, self.preferred_name)


_ANSWERED_COLUMNS = ("pk", "answered_at", "journey__patient_id", *(f"journey__patient__{n}" for n in _NAMES))


class PatientRow(NamedTuple):
    pk: int
    created_at: datetime
    first_name: str
    last_name: str
    preferred_name: str

    @property
    def patient_name(self) -> str:
        return display_name_of(self.first_name, self.last_name, self.preferred_name)


class InquiryRow(NamedTuple):
    pk: int
    patient_id: int
    stage_entered_at: datetime
    first_name: str
    last_name: str
    preferred_name: str
    call_booked: bool = (
        False  # not a column: whether the patient's first call is booked (one query of its own)
    )

    @property
    def patient_name(self) -> str:
        return display_name_of(self.first_name, self.last_name, self.preferred_name)


_INQUIRY_COLUMNS = ("pk", "patient_id", "stage_entered_at", *(f"patient__{n}" for n in _NAMES))

_ROWS: dict[str, Callable[..., tuple]] = {
    "visits": VisitRow,
    "next_visits": VisitRow,
    "alerts": AlertRow,
    "notes_to_sign": NoteRow,
    "answered": AnsweredRow,
    "without_lead": PatientRow,
    "inquiries": InquiryRow,
}


@dataclass
class Today:
    day: datetime
    scope: str
    practises: bool  # the person sees patients: Today offers "mine" and "the whole practice"
    visits: list[VisitRow]
    visit_count: int
    next_visits: list[VisitRow]  # the next booked visits, for a day with none
    alerts: list[AlertRow]
    alert_count: int
    checkins_answered_today: int = 0
    checkins_due_today: int = 0
    to_review: int = 0
    without_lead: list[PatientRow] = field(default_factory=list)
    without_lead_count: int = 0
    inquiries: list[InquiryRow] = field(default_factory=list)  # journeys still at inquiry, the longest first
    inquiry_count: int = 0
    notes_to_sign: list[NoteRow] = field(default_factory=list)
    notes_to_sign_count: int = 0
    answered: list[AnsweredRow] = field(
        default_factory=list
    )  # check-ins my patients answered since yesterday
    answered_count: int = 0

    @property
    def mine(self) -> bool:
        return self.scope == MINE

    @property
    def patient_ids(self) -> list[int]:
        """Every patient the page names, from the rows it already holds."""
        return [
            *(visit.patient_id for visit in self.visits),
            *(visit.patient_id for visit in (self.next_visits if not self.visits else [])),
            *(alert.patient_id for alert in self.alerts),
            *(patient.pk for patient in self.without_lead),
            *(journey.patient_id for journey in self.inquiries),
            *(note.patient_id for note in self.notes_to_sign),
            *(checkin.patient_id for checkin in self.answered),
        ]


def _my_patients(user_id: int, patient_ref: str) -> Exists:
    """An EXISTS: the user ``user_id`` is on the current care team of the row's patient (``patient_ref``)."""
    return Exists(CareTeamMember.objects.current().filter(patient=OuterRef(patient_ref), user_id=user_id))


def _among_my_patients(user_id: int, patient_column: str) -> InSmallSet:
    """``patient_column`` is one of the patients whose current care team the user ``user_id`` is on."""
    # No ORDER BY (the model's default sorted the ids for nothing): the ids only, from the partial index.
    mine = CareTeamMember.objects.current().filter(user_id=user_id).order_by().values("patient_id")
    return InSmallSet(patient_column, Subquery(mine))


def today_scope(user: User, asked: str | None) -> str:
    if user.role not in PRACTISING_ROLES:
        return PRACTICE
    if asked in (MINE, PRACTICE):
        return asked
    return MINE if user.is_practitioner else PRACTICE


# Where each read's values go in its SQL compiled once per thread (``accounts.queries.Compiled``): a user id and
# moments no page spells otherwise. Today's dozen reads and counts cost the ORM several times more to compile
# than PostgreSQL to run, on every load of everyone's first page.
_USER = 918_273_645
_START = datetime(2001, 2, 3, tzinfo=UTC)
_END = _START + timedelta(days=1)
_SINCE = _START - timedelta(days=1)
_NOW = datetime(2001, 2, 3, 12, 34, 56, 789_012, tzinfo=UTC)
_DAY = date(2001, 2, 3)
_MARKERS: dict[str, int | date] = {
    "user": _USER,
    "start": _START,
    "end": _END,
    "since": _SINCE,
    "now": _NOW,
    "day": _DAY,
}


@dataclass(frozen=True)
class _Moments:
    user: int
    start: datetime
    end: datetime
    since: datetime
    now: datetime
    day: date


def _reads(at: _Moments, *, mine: bool, practises: bool) -> tuple[dict[str, QuerySet], dict[str, QuerySet]]:
    """Today's lists and its counts, for one kind of page: the user's own day or the practice's, by someone
    who practises or not."""
    visits = Visit.objects.all()
    alerts = Alert.objects.filter(resolved_at__isnull=True)
    if mine:
        visits = visits.filter(practitioner_id=at.user)
        alerts = alerts.filter(_my_patients(at.user, "patient_id"))
    day_visits = visits.filter(starts_at__gte=at.start, starts_at__lt=at.end).exclude(
        status=Visit.Status.CANCELLED
    )
    ahead = visits.blocking().filter(starts_at__gte=at.end)
    alerts = alerts.order_by("opened_at", "pk")
    lists: dict[str, QuerySet] = {
        "visits": day_visits.order_by("starts_at", "pk").values_list(*_VISIT_COLUMNS)[:VISITS_SHOWN],
        "next_visits": ahead.order_by("starts_at", "pk").values_list(*_VISIT_COLUMNS)[:NEXT_SHOWN],
        "alerts": alerts.values_list(*_ALERT_COLUMNS)[:SHOWN],
    }
    counted: dict[str, QuerySet] = {"visit_count": day_visits, "alert_count": alerts}
    if practises:
        notes = VisitNote.objects.filter(author_id=at.user, signed_at__isnull=True)
        lists["notes_to_sign"] = notes.order_by("created_at", "pk").values_list(*_NOTE_COLUMNS)[:SHOWN]
        counted["notes_to_sign_count"] = notes
    if mine:
        answered = CheckIn.objects.filter(answered_at__gte=at.since, answered_at__lte=at.now).filter(
            _among_my_patients(at.user, "journey__patient_id")
        )
        lists["answered"] = answered.order_by("-answered_at", "-pk").values_list(*_ANSWERED_COLUMNS)[:SHOWN]
        counted["answered_count"] = answered
        return lists, counted

    counted["checkins_answered_today"] = CheckIn.objects.filter(
        answered_at__gte=at.start, answered_at__lt=at.end
    )
    counted["checkins_due_today"] = CheckIn.objects.filter(due_on=at.day)
    counted["to_review"] = Nudge.objects.needs_review()
    # The flag narrows to the patients waiting for a lead by its index; the EXISTS keeps the list true to the
    # care team whatever wrote it.
    current_lead = CareTeamMember.objects.current().filter(
        patient=OuterRef("pk"), role=CareTeamMember.Role.LEAD
    )
    without_lead = (
        Patient.objects.filter(archived=False, has_lead=False)
        .filter(~ExistsEach(current_lead))  # walked in the flag's index order, ten found: not an anti-join
        .order_by("created_at", "pk")
    )
    lists["without_lead"] = without_lead.values_list("pk", "created_at", *_NAMES)[:SHOWN]
    counted["without_lead_count"] = without_lead
    waiting = Journey.objects.open().filter(stage=Stage.INQUIRY)
    oldest = waiting.order_by("stage_entered_at", "pk")
    lists["inquiries"] = oldest.values_list(*_INQUIRY_COLUMNS)[:SHOWN]
    # The shown patients' booked visits in one query of their own: an EXISTS on each row was planned as a
    # hash of every future visit of the clinic.
    lists["booked"] = (
        Visit.objects.blocking()
        .filter(patient_id__in=oldest.values("patient_id")[:SHOWN], starts_at__gte=at.now)
        .values_list("patient_id", flat=True)
    )
    counted["inquiry_count"] = waiting
    return lists, counted


@dataclass(frozen=True)
class _CompiledDay:
    lists: dict[str, tuple[Compiled, tuple[str, ...]]]  # each read and the moments it is filtered on
    counts: CountsCompiled
    counted: tuple[str, ...]  # the moments the counts are filtered on


@built_per_thread
def _compiled_days() -> dict[tuple[bool, bool], _CompiledDay]:
    """Each kind of page's reads, compiled the first time it is asked for on the thread."""
    return {}


def _spelled(querysets: Iterable[QuerySet]) -> tuple[str, ...]:
    """The moments (``_MARKERS``) the queries are filtered on, in the markers' order."""
    params = [param for queryset in querysets for param in queryset.query.sql_with_params()[1]]
    spelled = {name: adapted(marker) for name, marker in _MARKERS.items()}  # as the database is given them
    return tuple(
        name
        for name, marker in spelled.items()
        if any(type(p) is type(marker) and p == marker for p in params)
    )


def _compiled_day(*, mine: bool, practises: bool) -> _CompiledDay:
    days = _compiled_days()
    if (mine, practises) not in days:
        marked = _Moments(user=_USER, start=_START, end=_END, since=_SINCE, now=_NOW, day=_DAY)
        lists, counted = _reads(marked, mine=mine, practises=practises)
        reads = {}
        for name, queryset in lists.items():
            moments = _spelled([queryset])
            reads[name] = (Compiled(queryset, *(_MARKERS[m] for m in moments)), moments)
        moments = _spelled(counted.values())
        days[mine, practises] = _CompiledDay(
            lists=reads,
            counts=CountsCompiled(counted, *(_MARKERS[m] for m in moments), cap=COUNT_CAP),
            counted=moments,
        )
    return days[mine, practises]


def today_for(user: User, *, scope: str | None = None, now: datetime | None = None) -> Today:
    """Today for ``user``: each list and the counts in one query each, compiled once per thread."""
    now = now or timezone.now()
    scope = today_scope(user, scope)
    mine = scope == MINE
    practises = user.role in PRACTISING_ROLES
    local = timezone.localtime(now)
    start = datetime.combine(local.date(), time.min, tzinfo=local.tzinfo)
    at = _Moments(
        user=user.pk,
        start=start,
        end=start + timedelta(days=1),
        since=start - timedelta(days=1),
        now=now,
        day=local.date(),
    )
    compiled = _compiled_day(mine=mine, practises=practises)
    rows: dict[str, list] = {
        name: read.rows(*(getattr(at, moment) for moment in moments))
        for name, (read, moments) in compiled.lists.items()
    }
    booked = set(rows.pop("booked", ()))
    rows = {name: [_ROWS[name](*row) for row in found] for name, found in rows.items()}
    today = Today(
        day=local,
        scope=scope,
        practises=practises,
        visits=rows["visits"],
        visit_count=0,
        next_visits=rows["next_visits"],
        alerts=rows["alerts"],
        alert_count=0,
        notes_to_sign=rows.get("notes_to_sign", []),
        answered=rows.get("answered", []),
        without_lead=rows.get("without_lead", []),
        inquiries=[row._replace(call_booked=row.patient_id in booked) for row in rows.get("inquiries", [])],
    )
    counts = compiled.counts.counts(*(getattr(at, moment) for moment in compiled.counted))
    for name, n in counts.items():
        setattr(today, name, n)
    return today


__all__ = [
    "MINE",
    "PRACTICE",
    "AlertRow",
    "AnsweredRow",
    "InquiryRow",
    "NoteRow",
    "PatientRow",
    "Today",
    "VisitRow",
    "today_for",
    "today_scope",
]
