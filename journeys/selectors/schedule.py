"""The schedule: each practitioner's days — visits, working hours, time off, and the free slots between —
for one day or a week, one practitioner or the whole clinic, in a fixed number of queries whatever the
number of visits (the practitioners, their working hours, their time off, the calendar's booked times,
and the visits shown with their patients).

Times are the clinic's (``settings.TIME_ZONE``): working hours are kept as clinic wall-clock times. What
holds a slot is what the booking service refuses to overlap (``Visit.objects.blocking()`` and time off),
so the schedule never offers a time ``visit_schedule`` would refuse as taken.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Literal

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import Role, User
from patients.selectors import lead_candidates

from ..models import TimeOff, Visit, WorkingHours

SLOT_STEP = timedelta(minutes=30)  # free slots are offered on this grid from the start of each stretch
VISITS_SHOWN = 400  # visits listed at once (a week of a large clinic); past it the page says so
BOOKED_READ = 5_000  # booked times read for the free slots; past it no slot is offered (never a taken one)
Interval = tuple[datetime, datetime]


def clinic_zone() -> tzinfo:
    return timezone.get_default_timezone()


def at(day: date, moment: time) -> datetime:
    """A clinic wall-clock time on ``day`` as an aware datetime."""
    return datetime.combine(day, moment, tzinfo=clinic_zone())


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Overlapping or touching intervals joined, in order."""
    merged: list[list[datetime]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(start, end) for start, end in merged]


def subtract(intervals: list[Interval], taken: Iterable[Interval]) -> list[Interval]:
    """``intervals`` less every ``taken`` stretch."""
    left = list(intervals)
    for cut_start, cut_end in taken:
        pieces = []
        for start, end in left:
            if cut_end <= start or cut_start >= end:
                pieces.append((start, end))
                continue
            if start < cut_start:
                pieces.append((start, cut_start))
            if cut_end < end:
                pieces.append((cut_end, end))
        left = pieces
    return left


def day_stretches(hours: Iterable[WorkingHours], day: date) -> list[Interval]:
    """The practitioner's working stretches on ``day``, joined where they touch."""
    return merge((at(day, h.starts), at(day, h.ends)) for h in hours if h.weekday == day.weekday())


def free_slots(
    stretches: list[Interval], taken: list[Interval], *, minutes: int, after: datetime
) -> list[datetime]:
    """Starts on the ``SLOT_STEP`` grid of each stretch where ``minutes`` fit before the stretch ends,
    overlap nothing ``taken``, and begin after ``after`` (now)."""
    length = timedelta(minutes=minutes)
    slots = []
    for start, end in stretches:
        moment = start
        while moment + length <= end:
            if moment > after and not any(s < moment + length and e > moment for s, e in taken):
                slots.append(moment)
            moment += SLOT_STEP
    return slots


@dataclass
class Entry:
    """One row of a practitioner's day, in time order: a visit, a run of free slots, or time off."""

    what: Literal["visit", "free", "away"]
    starts_at: datetime
    ends_at: datetime
    visit: Visit | None = None
    slots: list[datetime] = field(default_factory=list)
    reason: str = ""


@dataclass
class PractitionerDay:
    practitioner: User
    day: date
    stretches: list[Interval]
    visits: list[Visit]
    away: list[TimeOff]
    free: list[datetime]
    minutes: int
    link: str = ""  # the page's query string for this practitioner's day (set by the page)

    @property
    def works(self) -> bool:
        return bool(self.stretches)

    @property
    def booked(self) -> list[Visit]:
        return [visit for visit in self.visits if visit.status != Visit.Status.CANCELLED]

    @property
    def entries(self) -> list[Entry]:
        rows = [Entry("visit", visit.starts_at, visit.ends_at, visit=visit) for visit in self.visits]
        start_of_day, end_of_day = at(self.day, time.min), at(self.day + timedelta(days=1), time.min)
        rows += [
            Entry("away", max(off.starts_at, start_of_day), min(off.ends_at, end_of_day), reason=off.reason)
            for off in self.away
        ]
        runs: list[list[datetime]] = []
        for slot in self.free:
            if runs and slot - runs[-1][-1] == SLOT_STEP:
                runs[-1].append(slot)
            else:
                runs.append([slot])
        length = timedelta(minutes=self.minutes)
        rows += [Entry("free", run[0], run[-1] + length, slots=run) for run in runs]
        order = {"away": 0, "visit": 1, "free": 2}
        return sorted(rows, key=lambda row: (row.starts_at, order[row.what]))


@dataclass
class PractitionerRow:
    practitioner: User
    days: list[PractitionerDay]


@dataclass
class Schedule:
    days: list[date]
    minutes: int
    rows: list[PractitionerRow]
    visits_capped: bool  # more visits than VISITS_SHOWN: the first ones are listed
    slots_withheld: bool  # more booked times than BOOKED_READ: no free slot is offered

    @property
    def patient_ids(self) -> list[int]:
        return [visit.patient_id for row in self.rows for day in row.days for visit in day.visits]

    @property
    def visit_count(self) -> int:
        return sum(len(day.booked) for row in self.rows for day in row.days)


def schedule_practitioners() -> QuerySet[User]:
    """Who has a schedule: active practitioners (and admins who practise), by name."""
    return lead_candidates().order_by("display_name", "username")


def _shown_visits(start: datetime, end: datetime, ids: list[int]) -> list[Visit]:
    return list(
        Visit.objects.filter(practitioner_id__in=ids, starts_at__gte=start, starts_at__lt=end)
        .select_related("patient")
        .only(
            "id",
            "practitioner_id",
            "kind",
            "status",
            "starts_at",
            "ends_at",
            "duration_minutes",
            "location",
            "patient_id",
            "patient__first_name",
            "patient__last_name",
            "patient__preferred_name",
            "patient__time_zone",
        )
        .order_by("starts_at", "pk")[: VISITS_SHOWN + 1]
    )


KIND_LABELS = dict(Visit.Kind.choices)
STATUS_LABELS = dict(Visit.Status.choices)


def _label(visit: Visit, zone: tzinfo) -> None:
    """What a schedule row prints, worked out once (a day of a large clinic lists hundreds of visits):
    ``clinic_start``/``clinic_times`` on the clinic's clock, ``kind_label``/``status_label``, and
    ``patient_clock``: the start on the patient's own clock when they live in another zone ("15:00",
    "Thursday 3 December at 15:00 in Europe/London"), else None."""
    start, end = visit.starts_at.astimezone(zone), visit.ends_at.astimezone(zone)
    visit.clinic_start = f"{start:%H:%M}"  # type: ignore[attr-defined]
    visit.clinic_times = f"{start:%H:%M}–{end:%H:%M}"  # type: ignore[attr-defined]
    visit.kind_label = KIND_LABELS.get(visit.kind, visit.kind)  # type: ignore[attr-defined]
    visit.status_label = STATUS_LABELS.get(visit.status, visit.status)  # type: ignore[attr-defined]
    patient, clock = visit.patient, None
    if patient.time_zone != settings.TIME_ZONE:
        local = visit.starts_at.astimezone(patient.tz)
        where = patient.time_zone.replace("_", " ")
        clock = {
            "time": f"{local:%H:%M}",
            "when": f"{local:%A} {local.day} {local:%B} at {local:%H:%M} in {where}",
            "zone": where,
        }
    visit.patient_clock = clock  # type: ignore[attr-defined]


def schedule_for(
    *,
    days: list[date],
    practitioners: list[User],
    whole_clinic: bool = False,
    minutes: int = Visit.DEFAULT_MINUTES[Visit.Kind.FOLLOW_UP],
    now: datetime | None = None,
) -> Schedule:
    """``days`` (in order) of ``practitioners`` (from ``schedule_practitioners``): every visit (cancelled
    ones too, marked), working hours, time off, and the free starts for a visit of ``minutes``. For the
    ``whole_clinic``, admins who practise appear only when they have hours, visits or time off."""
    now = now or timezone.now()
    start, end = at(days[0], time.min), at(days[-1] + timedelta(days=1), time.min)
    people = list(practitioners)
    ids = [person.pk for person in people]

    hours_of: dict[int, list[WorkingHours]] = defaultdict(list)
    for stretch in WorkingHours.objects.filter(practitioner_id__in=ids):
        hours_of[stretch.practitioner_id].append(stretch)
    away_of: dict[int, list[TimeOff]] = defaultdict(list)
    for off in TimeOff.objects.filter(practitioner_id__in=ids, starts_at__lt=end, ends_at__gt=start):
        away_of[off.practitioner_id].append(off)
    booked = list(
        Visit.objects.blocking()
        .overlapping(start, end)
        .filter(practitioner_id__in=ids)
        .values_list("practitioner_id", "starts_at", "ends_at")[: BOOKED_READ + 1]
    )
    slots_withheld = len(booked) > BOOKED_READ
    taken_of: dict[int, list[Interval]] = defaultdict(list)
    for person_id, booked_start, booked_end in booked:
        taken_of[person_id].append((booked_start, booked_end))
    for person_id, offs in away_of.items():
        taken_of[person_id] += [(off.starts_at, off.ends_at) for off in offs]

    shown = _shown_visits(start, end, ids)
    visits_capped = len(shown) > VISITS_SHOWN
    visits_of: dict[tuple[int, date], list[Visit]] = defaultdict(list)
    zone = clinic_zone()
    for visit in shown[:VISITS_SHOWN]:
        _label(visit, zone)
        visits_of[(visit.practitioner_id, visit.starts_at.astimezone(zone).date())].append(visit)

    rows = []
    for person in people:
        hours = hours_of[person.pk]
        person_days = []
        for day in days:
            stretches = day_stretches(hours, day)
            day_start, day_end = at(day, time.min), at(day + timedelta(days=1), time.min)
            away = [off for off in away_of[person.pk] if off.starts_at < day_end and off.ends_at > day_start]
            free = (
                []
                if slots_withheld
                else free_slots(stretches, taken_of[person.pk], minutes=minutes, after=now)
            )
            person_days.append(
                PractitionerDay(
                    practitioner=person,
                    day=day,
                    stretches=stretches,
                    visits=visits_of[(person.pk, day)],
                    away=away,
                    free=free,
                    minutes=minutes,
                )
            )
        quiet = not hours and not any(day.visits or day.away for day in person_days)
        if whole_clinic and person.role != Role.PRACTITIONER and quiet:
            continue  # an admin who does not see patients
        rows.append(PractitionerRow(practitioner=person, days=person_days))
    return Schedule(
        days=days, minutes=minutes, rows=rows, visits_capped=visits_capped, slots_withheld=slots_withheld
    )


def week_of(day: date) -> list[date]:
    monday = day - timedelta(days=day.weekday())
    return [monday + timedelta(days=offset) for offset in range(7)]


__all__ = [
    "SLOT_STEP",
    "Entry",
    "PractitionerDay",
    "Schedule",
    "at",
    "day_stretches",
    "free_slots",
    "schedule_for",
    "schedule_practitioners",
    "week_of",
]
