"""Today: what each person needs to see this morning, read across apps in a fixed number of queries.

A practitioner opens on their own day (``scope="mine"``): their visits, the notes they have still to sign,
their patients' open alerts and the check-ins their patients answered since yesterday. Staff and admins
open on the whole practice (``scope="practice"``): everyone's visits, the inquiries waiting and how long,
the messages to review, the patients without a lead. Whoever practises may switch between the two. Every
list is capped and every count stops at ``COUNT_CAP``; "my patients" is the current care team (an EXISTS for
alerts, ``InSmallSet`` for the answered check-ins, whose EXISTS PostgreSQL hashed over every journey).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from django.db.models import Exists, OuterRef, QuerySet, Subquery
from django.utils import timezone

from accounts.models import User
from accounts.queries import InSmallSet, counts_at_once
from compliance.models import Alert
from journeys.models import CheckIn, Journey, Stage, Visit, VisitNote
from nudges.models import Nudge
from patients.models import CareTeamMember, Patient
from patients.validation import PRACTISING_ROLES

SHOWN = 10
VISITS_SHOWN = 50
NEXT_SHOWN = 5  # the next visits shown on a day with none
COUNT_CAP = 1_000  # "1,000+" is all Today needs to say about a long list
MINE, PRACTICE = "mine", "practice"


@dataclass
class Today:
    day: datetime
    scope: str
    practises: bool  # the person sees patients: Today offers "mine" and "the whole practice"
    visits: list
    visit_count: int
    next_visits: list  # the next booked visits, for a day with none
    alerts: list
    alert_count: int
    checkins_answered_today: int = 0
    checkins_due_today: int = 0
    to_review: int = 0
    without_lead: list = field(default_factory=list)
    without_lead_count: int = 0
    inquiries: list = field(default_factory=list)  # journeys still at inquiry, the longest waiting first
    inquiry_count: int = 0
    notes_to_sign: list = field(default_factory=list)
    notes_to_sign_count: int = 0
    answered: list = field(default_factory=list)  # check-ins my patients answered since yesterday
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
            *(note.visit.patient_id for note in self.notes_to_sign),
            *(checkin.journey.patient_id for checkin in self.answered),
        ]


def _my_patients(user: User, patient_ref: str) -> Exists:
    """An EXISTS: ``user`` is on the current care team of the row's patient (``patient_ref``)."""
    return Exists(CareTeamMember.objects.current().filter(patient=OuterRef(patient_ref), user=user))


def _among_my_patients(user: User, patient_column: str) -> InSmallSet:
    """``patient_column`` is one of the patients whose current care team ``user`` is on."""
    mine = CareTeamMember.objects.current().filter(user=user).values("patient_id")
    return InSmallSet(patient_column, Subquery(mine))


def today_scope(user: User, asked: str | None) -> str:
    if user.role not in PRACTISING_ROLES:
        return PRACTICE
    if asked in (MINE, PRACTICE):
        return asked
    return MINE if user.is_practitioner else PRACTICE


def today_for(user: User, *, scope: str | None = None, now: datetime | None = None) -> Today:
    now = now or timezone.now()
    scope = today_scope(user, scope)
    mine = scope == MINE
    local = timezone.localtime(now)
    start = datetime.combine(local.date(), time.min, tzinfo=local.tzinfo)
    end = start + timedelta(days=1)

    visits = Visit.objects.all()
    alerts = Alert.objects.filter(resolved_at__isnull=True)
    if mine:
        visits = visits.filter(practitioner=user)
        alerts = alerts.filter(_my_patients(user, "patient_id"))
    day_visits = visits.filter(starts_at__gte=start, starts_at__lt=end).exclude(status=Visit.Status.CANCELLED)
    ahead = visits.blocking().filter(starts_at__gte=end)
    with_people = ("patient", "practitioner")
    alerts = alerts.select_related("patient").order_by("opened_at", "pk")

    today = Today(
        day=local,
        scope=scope,
        practises=user.role in PRACTISING_ROLES,
        visits=list(day_visits.select_related(*with_people).order_by("starts_at", "pk")[:VISITS_SHOWN]),
        visit_count=0,
        next_visits=list(ahead.select_related(*with_people).order_by("starts_at", "pk")[:NEXT_SHOWN]),
        alerts=list(alerts[:SHOWN]),
        alert_count=0,
    )
    counted: dict[str, QuerySet] = {"visit_count": day_visits, "alert_count": alerts}
    if today.practises:
        notes = VisitNote.objects.filter(author=user, signed_at__isnull=True)
        today.notes_to_sign = list(
            notes.select_related("visit__patient").order_by("created_at", "pk")[:SHOWN]
        )
        counted["notes_to_sign_count"] = notes
    if mine:
        since = start - timedelta(days=1)
        answered = CheckIn.objects.filter(answered_at__gte=since, answered_at__lte=now).filter(
            _among_my_patients(user, "journey__patient_id")
        )
        today.answered = list(
            answered.select_related("journey__patient").order_by("-answered_at", "-pk")[:SHOWN]
        )
        counted["answered_count"] = answered
        return _with_counts(today, counted)

    counted["checkins_answered_today"] = CheckIn.objects.filter(answered_at__gte=start, answered_at__lt=end)
    counted["checkins_due_today"] = CheckIn.objects.filter(due_on=local.date())
    counted["to_review"] = Nudge.objects.needs_review()
    # The flag narrows to the patients waiting for a lead by its index; the EXISTS keeps the list true to the
    # care team whatever wrote it.
    current_lead = CareTeamMember.objects.current().filter(
        patient=OuterRef("pk"), role=CareTeamMember.Role.LEAD
    )
    without_lead = (
        Patient.objects.filter(archived=False, has_lead=False)
        .filter(~Exists(current_lead))
        .order_by("created_at", "pk")
    )
    today.without_lead = list(without_lead[:SHOWN])
    counted["without_lead_count"] = without_lead
    waiting = Journey.objects.open().filter(stage=Stage.INQUIRY)
    oldest = waiting.order_by("stage_entered_at", "pk")
    today.inquiries = list(oldest.select_related("patient")[:SHOWN])
    # The shown patients' booked visits in one query of their own: an EXISTS on each row was planned as a
    # hash of every future visit of the clinic.
    booked = set(
        Visit.objects.blocking()
        .filter(patient_id__in=oldest.values("patient_id")[:SHOWN], starts_at__gte=now)
        .values_list("patient_id", flat=True)
    )
    for journey in today.inquiries:
        journey.call_booked = journey.patient_id in booked
    counted["inquiry_count"] = waiting
    return _with_counts(today, counted)


def _with_counts(today: Today, counted: dict[str, QuerySet]) -> Today:
    for name, n in counts_at_once(counted, cap=COUNT_CAP).items():
        setattr(today, name, n)
    return today


__all__ = ["MINE", "PRACTICE", "Today", "today_for", "today_scope"]
