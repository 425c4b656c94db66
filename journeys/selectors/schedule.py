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

from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import cached_property
from itertools import groupby
from operator import attrgetter, itemgetter
from typing import Literal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from accounts.links import url_around_id
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
            if end > merged[-1][1]:  # (not ``max``: a call per interval, and a week joins hundreds)
                merged[-1][1] = end
        else:
            merged += ([start, end],)  # (not ``append``: a call per interval)
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
    count = len(blocked)
    slots: list[datetime] = []
    for start, end in stretches:
        if end <= after:
            continue  # the whole stretch is past
        if start <= after:  # the first start on its grid after ``after``
            start += ((after - start) // SLOT_STEP + 1) * SLOT_STEP
        moment, index = start, bisect_right(ends, start)
        while moment + length <= end:
            while index < count and blocked[index][1] <= moment:
                index += 1  # joined, they end in order: one over before this start never clashes again
            clash = index < count and blocked[index][0] < moment + length
            if moment > after and not clash:
                slots += (moment,)  # (not ``append``: a call a slot, and a clinic's day offers hundreds)
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
    day: date  # the clinic's day it starts on


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


# Each free start as a slot prints it, kept for the process by moment and clock (a clinic's practitioners
# share the grid, and its day offers hundreds): only moments, no one's data; emptied past ``SLOTS_KEPT``.
SLOTS_KEPT = 20_000
_slots_kept: dict[tuple[datetime, tzinfo], Slot] = {}


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
    kept = _slots_kept
    if len(kept) > SLOTS_KEPT:
        kept.clear()
    for run in runs:
        for moment in run:
            if (moment, zone) not in kept:
                local = moment.astimezone(zone)
                label = clock(local)
                kept[(moment, zone)] = Slot(moment, label, f"{local.date().isoformat()}T{label}")
        ends = run[-1] + length
        slots = [kept[(moment, zone)] for moment in run]
        rows.append(Entry("free", run[0], ends, _times(run[0], ends, zone), slots=slots))
    # in time order, time off first, then visits, then free slots, as read at a tie (no key function: a call
    # a row)
    order = {"away": 0, "visit": 1, "free": 2}
    ranked = sorted([(row.starts_at, order[row.what], n, row) for n, row in enumerate(rows)])
    return [row for *_, row in ranked]


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
    head, tail = url_around_id("journeys:visit_detail")  # each visit's page: its id between them
    clinic = settings.TIME_ZONE
    # A week's hundreds of visits start and end at a few dozen moments: each moment is put on the clinic's
    # clock (and a patient's) once for the process (``_clocks_kept``), before the visits are made by one
    # comprehension (no call a visit but its own, and its name's when it has white space to strip).
    kept, theirs = _clocks_kept, _their_clocks_kept
    if len(kept) > MOMENTS_KEPT or len(theirs) > MOMENTS_KEPT:
        kept.clear()
        theirs.clear()
    for moment in {row[5] for row in rows} | {row[6] for row in rows}:
        if (moment, zone) not in kept:
            local = moment.astimezone(zone)
            kept[(moment, zone)] = (f"{local.hour:02d}:{local.minute:02d}", local.date())
    for key in {(row[5], row[11]) for row in rows if row[11] != clinic}:
        if key not in theirs:
            theirs[key] = _their_clock(*key)
    names = [f"{preferred or first} {last}" for *_, first, last, preferred, _ in rows]
    names = [name if name[0] not in _SPACE and name[-1] not in _SPACE else name.strip() for name in names]
    scheduled = Visit.Status.SCHEDULED
    return [
        ShownVisit(
            pk,
            patient_id,
            practitioner_id,
            kind,
            status,
            starts_at,
            ends_at,
            location,
            name,
            kept[(starts_at, zone)][0],
            f"{kept[(starts_at, zone)][0]}–{kept[(ends_at, zone)][0]}",
            KIND_LABELS[kind] if kind in KIND_LABELS else kind,  # noqa: SIM401 — no call a visit
            STATUS_LABELS[status] if status in STATUS_LABELS else status,  # noqa: SIM401
            status != scheduled,
            theirs[(starts_at, tz)] if tz != clinic else None,
            f"{head}{pk}{tail}",
            kept[(starts_at, zone)][1],
        )
        for (
            pk,
            patient_id,
            practitioner_id,
            kind,
            status,
            starts_at,
            ends_at,
            location,
            *_,
            tz,
        ), name in zip(rows, names, strict=True)
    ]


# Moments on the clinic's clock ("09:30" and the day) and on a zone's (``_their_clock``), kept for the
# process: only moments and zones, no one's data; emptied past ``MOMENTS_KEPT`` (a year of a clinic's
# visits is ~30,000 moments, a page a few dozen).
MOMENTS_KEPT = 20_000
_clocks_kept: dict[tuple[datetime, tzinfo], tuple[str, date]] = {}
_their_clocks_kept: dict[tuple[datetime, str], dict[str, str]] = {}
# what ``str.strip()`` strips: a name is stripped only when it starts or ends with one (few do)
_SPACE = frozenset(chr(code) for code in range(0x3001) if chr(code).isspace())


def _their_clock(moment: datetime, tz: str) -> dict[str, str]:
    """``moment`` on the clock of ``tz`` as a visit's ``patient_clock`` (shared by every visit at that
    moment in that zone: read, never changed)."""
    local = moment.astimezone(ZoneInfo(tz))
    where = tz.replace("_", " ")
    at_their = f"{local.hour:02d}:{local.minute:02d}"
    on = f"{DAY_NAMES[local.weekday()]} {local.day} {MONTH_NAMES[local.month]}"
    return {
        "time": at_their,
        "when": f"{on} at {at_their} in {where}",
        "zone": where,
        "on": on,  # "when" up to the time: day and month names and digits
    }


_BY_PERSON_AND_DAY = attrgetter("practitioner_id", "day")
_BY_PRACTITIONER_AND_WEEKDAY = itemgetter(1, 2)  # of ``_HOURS``' rows


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
    # grouped by practitioner and weekday by a sort (each group's list made at once, no call a row)
    for (practitioner_id, weekday), group in groupby(
        sorted(_read(_HOURS, ids, start, end), key=_BY_PRACTITIONER_AND_WEEKDAY),
        key=_BY_PRACTITIONER_AND_WEEKDAY,
    ):
        hours_of[practitioner_id][weekday] = [(starts, ends) for *_, starts, ends in group]
    away_of: dict[int, list[TimeOff]] = defaultdict(list)
    for off in _read(_TIME_OFF, ids, start, end):
        away_of[off.practitioner_id].append(off)
    # by practitioner (then start): each practitioner's booked times are one slice of it, found by bisection,
    # where putting each of a week's hundreds in its practitioner's list cost a call each
    booked = sorted(_read(_BOOKED, ids, start, end))
    slots_withheld = len(booked) > BOOKED_READ

    shown = _shown_visits(start, end, ids, zone)
    visits_capped = len(shown) > VISITS_SHOWN
    visits_of: dict[tuple[int, date], list[ShownVisit]] = defaultdict(list)
    # by practitioner and day, in the order read (a stable sort): each group's list made at once
    for key, group in groupby(sorted(shown[:VISITS_SHOWN], key=_BY_PERSON_AND_DAY), key=_BY_PERSON_AND_DAY):
        visits_of[key] = list(group)

    bounds = [(day, day.weekday(), at(day, time.min), at(day + timedelta(days=1), time.min)) for day in days]
    cancelled = Visit.Status.CANCELLED
    rows = []
    hours_written: dict[Interval, str] = {}  # a stretch on the clinic's clock, once each (many share theirs)
    stretched: dict[tuple, list[Interval]] = {}  # a day's stretches, once each (many share their hours)
    for person in people:
        pk = person.pk
        hours = hours_of[pk]
        name = str(person)
        offs = away_of[pk]
        first, last = bisect_left(booked, (pk,)), bisect_left(booked, (pk + 1,))
        taken = [(booked_start, booked_end) for _, booked_start, booked_end in booked[first:last]]
        if offs:
            taken += [(off.starts_at, off.ends_at) for off in offs]
        taken = merge(taken)
        person_days = []
        for day, weekday, day_start, day_end in bounds:
            if weekday in hours:
                same = (day, *hours[weekday])
                if same not in stretched:
                    stretched[same] = _stretches(hours[weekday], day, zone)
                stretches = stretched[same]
            else:
                stretches = []
            away = (
                [off for off in offs if off.starts_at < day_end and off.ends_at > day_start] if offs else []
            )
            free = [] if slots_withheld else _free_starts(stretches, taken, minutes=minutes, after=now)
            visits = visits_of[(pk, day)]
            for stretch in stretches:
                if stretch not in hours_written:
                    hours_written[stretch] = _times(*stretch, zone)
            person_days += [  # (not ``append``: a call a day)
                PractitionerDay(
                    practitioner=person,
                    day=day,
                    stretches=stretches,
                    visits=visits,
                    away=away,
                    free=free,
                    minutes=minutes,
                    name=name,
                    hours=", ".join([hours_written[stretch] for stretch in stretches]) if stretches else "",
                    booked_count=len(visits) - [visit.status for visit in visits].count(cancelled)
                    if visits
                    else 0,
                )
            ]
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
