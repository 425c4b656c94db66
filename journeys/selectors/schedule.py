"""The schedule: each practitioner's days — visits, working hours, time off, and the free slots between —
for one day or a week, one practitioner or the whole clinic, in a fixed number of queries whatever the
number of visits (the practitioners, their working hours, their time off, the calendar's booked times,
and the visits shown with their patients). The whole clinic is shown ``PRACTITIONERS_SHOWN`` practitioners
at a time (the page picks them), so a day or a week costs the same at 20 practitioners or 200; its visits are
read as rows with what they print worked out once (``ShownVisit``), never as model instances.

Times are the clinic's (``settings.TIME_ZONE``): working hours are kept as clinic wall-clock times. What
holds a slot is what the booking service refuses to overlap (``Visit.objects.blocking()`` and time off),
so the schedule never offers a time ``visit_schedule`` would refuse as taken.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import cached_property
from typing import Literal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role, User
from accounts.queries import Compiled, built_per_thread
from patients.selectors import lead_candidates

from ..models import TimeOff, Visit, WorkingHours

SLOT_STEP = timedelta(minutes=30)  # free slots are offered on this grid from the start of each stretch
PRACTITIONERS_SHOWN = 8  # the whole clinic, a screenful of practitioners at a time (its pages go by name)
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


def _stretches(hours: list[tuple[time, time]] | None, day: date, zone: tzinfo) -> list[Interval]:
    """``day_stretches`` from a weekday's (starts, ends) rows."""
    if not hours:
        return []
    stretches = [
        (datetime.combine(day, starts, tzinfo=zone), datetime.combine(day, ends, tzinfo=zone))
        for starts, ends in hours
    ]
    return stretches if len(stretches) == 1 else merge(stretches)


def free_slots(
    stretches: list[Interval], taken: list[Interval], *, minutes: int, after: datetime
) -> list[datetime]:
    """Starts on the ``SLOT_STEP`` grid of each stretch where ``minutes`` fit before the stretch ends,
    overlap nothing ``taken``, and begin after ``after`` (now). One pass over the grid and the taken
    stretches (joined and in order), whatever their number."""
    return _free_starts(stretches, merge(taken), minutes=minutes, after=after)


def _free_starts(
    stretches: list[Interval], blocked: list[Interval], *, minutes: int, after: datetime
) -> list[datetime]:
    """``free_slots`` with ``blocked`` already joined and in order (a week's, read once per practitioner)."""
    length = timedelta(minutes=minutes)
    ends = [end for _, end in blocked]
    slots = []
    for start, end in stretches:
        if end <= after:
            continue  # the whole stretch is past
        if start <= after:  # the first start on its grid after ``after``
            start += ((after - start) // SLOT_STEP + 1) * SLOT_STEP
        moment, index = start, bisect_right(ends, start)
        while moment + length <= end:
            while index < len(blocked) and blocked[index][1] <= moment:
                index += 1  # joined, they end in order: one over before this start never clashes again
            clash = index < len(blocked) and blocked[index][0] < moment + length
            if moment > after and not clash:
                slots.append(moment)
            moment += SLOT_STEP
    return slots


@dataclass(slots=True)
class ShownVisit:
    """A visit as a schedule row prints it, worked out once (a week lists hundreds): times on the clinic's
    clock, the kind and status in words, the patient's name and, when they live in another zone, the start
    on their own clock (``patient_clock``: "15:00", "Thursday 3 December at 15:00 in Europe/London", the
    zone), and the address of the visit's page."""

    pk: int
    patient_id: int
    practitioner_id: int
    kind: str
    status: str
    starts_at: datetime
    ends_at: datetime
    location: str
    patient_name: str
    clinic_start: str
    clinic_times: str
    kind_label: str
    status_label: str
    marked: bool  # not simply booked: completed, cancelled or a no-show
    patient_clock: dict[str, str] | None
    url: str


@dataclass(slots=True)
class Slot:
    """A free start: ``at`` the moment, ``label`` "09:30", ``param`` as the booking form reads it
    ("2026-04-14T09:30")."""

    at: datetime
    label: str
    param: str


@dataclass(slots=True)
class Entry:
    """One row of a practitioner's day, in time order: a visit, a run of free slots, or time off."""

    what: Literal["visit", "free", "away"]
    starts_at: datetime
    ends_at: datetime
    times: str = ""  # "09:00–10:30" on the clinic's clock
    visit: ShownVisit | None = None
    slots: list[Slot] = field(default_factory=list)
    reason: str = ""


@dataclass
class PractitionerDay:
    practitioner: User
    day: date
    stretches: list[Interval]
    visits: list[ShownVisit]
    away: list[TimeOff]
    free: list[datetime]
    minutes: int
    link: str = ""  # the page's query string for this practitioner's day (set by the page)
    is_today: bool = False  # (set by the page)
    name: str = ""  # the practitioner as the page names them
    hours: str = ""  # "09:00–12:00, 13:00–17:00"
    booked_count: int = 0

    @property
    def works(self) -> bool:
        return bool(self.stretches)

    @property
    def booked(self) -> list[ShownVisit]:
        return [visit for visit in self.visits if visit.status != Visit.Status.CANCELLED]

    @cached_property
    def entries(self) -> list[Entry]:
        """Its visits, time off and runs of free slots in time order (the day view's list; a week shows counts)."""
        return _entries(self, clinic_zone())


def _entries(day: PractitionerDay, zone: tzinfo) -> list[Entry]:
    """The day's visits, time off and runs of consecutive free slots, in time order."""
    rows = [
        Entry("visit", visit.starts_at, visit.ends_at, visit.clinic_times, visit=visit)
        for visit in day.visits
    ]
    start_of_day, end_of_day = at(day.day, time.min), at(day.day + timedelta(days=1), time.min)
    for off in day.away:
        starts, ends = max(off.starts_at, start_of_day), min(off.ends_at, end_of_day)
        rows.append(Entry("away", starts, ends, _times(starts, ends, zone), reason=off.reason))
    runs: list[list[datetime]] = []
    for slot in day.free:
        if runs and slot - runs[-1][-1] == SLOT_STEP:
            runs[-1].append(slot)
        else:
            runs.append([slot])
    length = timedelta(minutes=day.minutes)
    for run in runs:
        slots = []
        for moment in run:
            local = moment.astimezone(zone)
            label = clock(local)
            slots.append(Slot(moment, label, f"{local.date().isoformat()}T{label}"))
        ends = run[-1] + length
        rows.append(Entry("free", run[0], ends, _times(run[0], ends, zone), slots=slots))
    order = {"away": 0, "visit": 1, "free": 2}
    return sorted(rows, key=lambda row: (row.starts_at, order[row.what]))


def _times(start: datetime, end: datetime, zone: tzinfo) -> str:
    return f"{clock(start.astimezone(zone))}–{clock(end.astimezone(zone))}"


DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTH_NAMES = (
    "", "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


def clock(moment: datetime) -> str:
    """ "09:30": a wall-clock time (``strftime`` costs ten times more, and a week prints hundreds)."""
    return f"{moment.hour:02d}:{moment.minute:02d}"


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
        return sum(day.booked_count for row in self.rows for day in row.days)


def schedule_practitioners() -> QuerySet[User]:
    """Who has a schedule: active practitioners (and admins who practise), by name."""
    return lead_candidates().order_by("display_name", "username")


# in the model's order, as ``Model.from_db`` reads a row of some of its fields
PRACTITIONER_FIELDS = [
    field.attname
    for field in User._meta.concrete_fields
    if field.attname in {"id", "display_name", "username", "role"}
]


@built_per_thread
def _practitioners_compiled() -> Compiled:
    return Compiled(schedule_practitioners().values_list(*PRACTITIONER_FIELDS))


def schedule_practitioner_rows() -> list[tuple]:
    """``schedule_practitioners()`` as rows of ``PRACTITIONER_FIELDS`` (a large clinic lists hundreds, and
    only the ones shown become users), by its SQL compiled once per thread: the schedule reads it every load."""
    return _practitioners_compiled().rows()


KIND_LABELS = dict(Visit.Kind.choices)
STATUS_LABELS = dict(Visit.Status.choices)
SHOWN_FIELDS = (
    "id",
    "patient_id",
    "practitioner_id",
    "kind",
    "status",
    "starts_at",
    "ends_at",
    "location",
    "patient__first_name",
    "patient__last_name",
    "patient__preferred_name",
    "patient__time_zone",
)


HOURS_FIELDS = ("id", "practitioner_id", "weekday", "starts", "ends")  # every column, in the model's order


def _hours_query(ids: list[int], start: datetime, end: datetime) -> QuerySet:
    # every column, as ``WorkingHours`` instances read them (the same SQL), as rows
    return WorkingHours.objects.filter(practitioner_id__in=ids).order_by().values_list(*HOURS_FIELDS)


def _time_off_query(ids: list[int], start: datetime, end: datetime) -> QuerySet[TimeOff]:
    return TimeOff.objects.filter(practitioner_id__in=ids, starts_at__lt=end, ends_at__gt=start).order_by(
        "starts_at", "pk"
    )


def _booked_query(ids: list[int], start: datetime, end: datetime) -> QuerySet:
    return (
        Visit.objects.blocking()
        .overlapping(start, end)
        .filter(practitioner_id__in=ids)
        .order_by()
        .values_list("practitioner_id", "starts_at", "ends_at")[: BOOKED_READ + 1]
    )


def _shown_query(ids: list[int], start: datetime, end: datetime) -> QuerySet:
    return (
        Visit.objects.filter(practitioner_id__in=ids, starts_at__gte=start, starts_at__lt=end)
        .order_by("starts_at", "pk")
        .values_list(*SHOWN_FIELDS)[: VISITS_SHOWN + 1]
    )


@dataclass(frozen=True)
class _Read:
    """One of the schedule's reads: its queryset for the practitioners' ids and the window [start, end), and
    the moments it is filtered on, in the order ``Compiled`` is given their markers."""

    build: Callable[[list[int], datetime, datetime], QuerySet]
    moments: Callable[[datetime, datetime], tuple[datetime, ...]]


_HOURS = _Read(_hours_query, lambda start, end: ())
_TIME_OFF = _Read(_time_off_query, lambda start, end: (start, end))
_BOOKED = _Read(_booked_query, lambda start, end: (start, end, start - Visit.LONGEST))
_SHOWN = _Read(_shown_query, lambda start, end: (start, end))

# The reads of a page of practitioners (one to ``PRACTITIONERS_SHOWN``), compiled once per thread and number of
# practitioners with marker ids and moments, and run with each page's: every load of the schedule ran them,
# and building and compiling them cost the ORM more than PostgreSQL took to run them.
_ID_MARKERS = tuple(918_273_600 + n for n in range(PRACTITIONERS_SHOWN))
_START_MARKER = datetime(2001, 2, 3, 4, 5, 6, 789_012, tzinfo=UTC)
_END_MARKER = datetime(2001, 2, 10, 4, 5, 6, 789_012, tzinfo=UTC)


@built_per_thread
def _compiled_reads() -> dict[tuple[_Read, int], Compiled]:
    return {}  # filled as each shape is first read: at most four reads for each number of practitioners


def _read(read: _Read, ids: list[int], start: datetime, end: datetime) -> list:
    """``read``'s rows for ``ids`` in [start, end): from its SQL compiled once for a page of practitioners
    (distinct ids, at most ``PRACTITIONERS_SHOWN``), by the ORM for any other list."""
    count = len(ids)
    if not 0 < count <= PRACTITIONERS_SHOWN or len(set(ids)) != count:
        return list(read.build(ids, start, end))
    reads = _compiled_reads()
    compiled = reads.get((read, count))
    if compiled is None:
        markers = list(_ID_MARKERS[:count])
        compiled = reads[(read, count)] = Compiled(
            read.build(markers, _START_MARKER, _END_MARKER),
            *markers,
            *read.moments(_START_MARKER, _END_MARKER),
        )
    return compiled.rows(*ids, *read.moments(start, end))


def _shown_visits(start: datetime, end: datetime, ids: list[int], zone: tzinfo) -> list[ShownVisit]:
    """The visits of ``ids`` starting in [start, end), the first ``VISITS_SHOWN + 1``, as rows (no model
    instances: a week lists hundreds)."""
    rows = _read(_SHOWN, ids, start, end)
    visit_url = reverse("journeys:visit_detail", args=[0])
    head, tail = visit_url.rsplit("0", 1)
    zones: dict[str, ZoneInfo] = {}
    clinic = settings.TIME_ZONE
    # A week's hundreds of visits start and end at a few dozen moments: each moment is put on the clinic's
    # clock (and a patient's) once.
    clinic_clock: dict[datetime, str] = {}
    their_clock: dict[tuple[datetime, str], dict[str, str]] = {}
    scheduled = Visit.Status.SCHEDULED
    shown = []
    # (Lookups by ``in`` and the clock written inline: this loop runs for every visit of a week.)
    for pk, patient_id, practitioner_id, kind, status, starts_at, ends_at, location, *names, tz in rows:
        first, last, preferred = names
        if starts_at in clinic_clock:
            begins = clinic_clock[starts_at]
        else:
            local = starts_at.astimezone(zone)
            begins = clinic_clock[starts_at] = f"{local.hour:02d}:{local.minute:02d}"
        if ends_at in clinic_clock:
            ends = clinic_clock[ends_at]
        else:
            local = ends_at.astimezone(zone)
            ends = clinic_clock[ends_at] = f"{local.hour:02d}:{local.minute:02d}"
        theirs = None
        if tz != clinic:
            if (starts_at, tz) in their_clock:
                theirs = their_clock[(starts_at, tz)]
            else:
                their = zones[tz] if tz in zones else zones.setdefault(tz, ZoneInfo(tz))
                local = starts_at.astimezone(their)
                where = tz.replace("_", " ")
                at_their = f"{local.hour:02d}:{local.minute:02d}"
                theirs = their_clock[(starts_at, tz)] = {
                    "time": at_their,
                    "when": (
                        f"{DAY_NAMES[local.weekday()]} {local.day} {MONTH_NAMES[local.month]} "
                        f"at {at_their} in {where}"
                    ),
                    "zone": where,
                }
        shown.append(
            ShownVisit(
                pk,
                patient_id,
                practitioner_id,
                kind,
                status,
                starts_at,
                ends_at,
                location,
                f"{preferred or first} {last}".strip(),
                begins,
                f"{begins}–{ends}",
                KIND_LABELS.get(kind, kind),
                STATUS_LABELS.get(status, status),
                status != scheduled,
                theirs,
                f"{head}{pk}{tail}",
            )
        )
    return shown


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
    zone = clinic_zone()
    start, end = at(days[0], time.min), at(days[-1] + timedelta(days=1), time.min)
    people = list(practitioners)
    ids = [person.pk for person in people]

    hours_of: dict[int, dict[int, list[tuple[time, time]]]] = defaultdict(dict)  # by practitioner and weekday
    for _, practitioner_id, weekday, starts, ends in _read(_HOURS, ids, start, end):
        hours_of[practitioner_id].setdefault(weekday, []).append((starts, ends))
    away_of: dict[int, list[TimeOff]] = defaultdict(list)
    for off in _read(_TIME_OFF, ids, start, end):
        away_of[off.practitioner_id].append(off)
    booked = _read(_BOOKED, ids, start, end)
    slots_withheld = len(booked) > BOOKED_READ
    taken_of: dict[int, list[Interval]] = defaultdict(list)
    for person_id, booked_start, booked_end in booked:
        taken_of[person_id].append((booked_start, booked_end))
    for person_id, offs in away_of.items():
        taken_of[person_id] += [(off.starts_at, off.ends_at) for off in offs]

    shown = _shown_visits(start, end, ids, zone)
    visits_capped = len(shown) > VISITS_SHOWN
    visits_of: dict[tuple[int, date], list[ShownVisit]] = defaultdict(list)
    day_of: dict[datetime, date] = {}
    for visit in shown[:VISITS_SHOWN]:
        day = day_of.get(visit.starts_at) or day_of.setdefault(
            visit.starts_at, visit.starts_at.astimezone(zone).date()
        )
        visits_of[(visit.practitioner_id, day)].append(visit)

    bounds = [(day, day.weekday(), at(day, time.min), at(day + timedelta(days=1), time.min)) for day in days]
    cancelled = Visit.Status.CANCELLED
    rows = []
    for person in people:
        hours = hours_of[person.pk]
        name = str(person)
        taken = merge(taken_of[person.pk])
        offs = away_of[person.pk]
        person_days = []
        for day, weekday, day_start, day_end in bounds:
            stretches = _stretches(hours.get(weekday), day, zone)
            away = (
                [off for off in offs if off.starts_at < day_end and off.ends_at > day_start] if offs else []
            )
            free = [] if slots_withheld else _free_starts(stretches, taken, minutes=minutes, after=now)
            visits = visits_of[(person.pk, day)]
            shown_day = PractitionerDay(
                practitioner=person,
                day=day,
                stretches=stretches,
                visits=visits,
                away=away,
                free=free,
                minutes=minutes,
                name=name,
                hours=", ".join([_times(s, e, zone) for s, e in stretches]),
                booked_count=len(visits) - [visit.status for visit in visits].count(cancelled),
            )
            person_days.append(shown_day)
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
    "PRACTITIONERS_SHOWN",
    "PRACTITIONER_FIELDS",
    "SLOT_STEP",
    "Entry",
    "PractitionerDay",
    "Schedule",
    "ShownVisit",
    "Slot",
    "at",
    "day_stretches",
    "free_slots",
    "schedule_for",
    "schedule_practitioner_rows",
    "schedule_practitioners",
    "week_of",
]
