"""Insights for any range up to a year, from daily roll-ups that the ``dashboard.refresh_figures`` beat task keeps.

A range's figures are sums — adherence tallies, requests sent and answered, barriers named, journey moves —
so each clinic day (``settings.TIME_ZONE``) is counted once into a few small rows (``DailyFigures``) and a range
is the sum of at most 366 days of them, read in a fixed number of queries. What cannot be summed is kept in a
form that can: the medians as histograms (``DailyLengths``, the median taken from the summed histogram), the
distinct patients who reported as a bitmap of their ids per day (``DailyPatients``, OR-ed over the range).

The live count (``days_count`` over the range, then ``figures_of``) goes through the same buckets and the same
arithmetic, so a range read from the roll-ups equals the range counted now, by construction.

A day can still change while its check-ins are open, their requests late, or their answers open to amendment
(``recount_days``): the refresh recounts those days every time, and fills the days never counted, back to
``FILL_DAYS`` (a year and the year before it, for the longest range's trend, and a month more), in chunks of ``CHUNK_DAYS``,
each chunk one transaction replacing its days' rows. A day counted after it stopped changing is ``final``.

A year is still 365 days of rows per figure (and a bitmap of every patient's id per day), so each complete
clinic month is also summed once, from its day rows, into month rows (``MonthlyFigures``, ``MonthlyLengths``
histograms summed, ``MonthlyPatients`` bitmaps OR-ed) with a marker saying which days they cover
(``MonthlyRollup.through``). A range reads its whole months from the month rows and its other days — the edges,
the month still growing, a month not summed yet — from the day rows; every part is a sum (or an OR) of whole
day rows, never a month minus some of its days, so the figures are those of its days. Adherence by week (weeks
cross months) is summed by week from the day rows in the database. A month's marker is removed in the
transaction that counts one of its days again, and the same refresh sums it again after the days; a reader
also checks the marker against its days' newest count (``_months_usable``): a month read always equals its
days. A histogram (only sums) of a range covering most of a month is read as the month less the days outside
the range (``reading``); counts and bitmaps are read as whole months plus days (an OR cannot be undone).
"""

from __future__ import annotations

import math
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import (
    Case,
    Count,
    ExpressionWrapper,
    F,
    FloatField,
    IntegerField,
    Max,
    Min,
    Q,
    Sum,
    When,
)
from django.db.models.functions import Cast, Extract, Floor, TruncDate, TruncMonth, TruncWeek
from django.utils import timezone

from compliance import selectors as compliance_selectors
from compliance.models import CheckInAnswer, ClinicSettings
from compliance.selectors import (
    BARRIER_LABELS,
    REQUEST_LATE_DAYS,
    TALLY,
    ClinicAdherence,
    LocalHour,
    Rate,
    ResponseRates,
    WeekAdherence,
)
from journeys.models import PATH, CheckIn, StageChange
from journeys.selectors.funnel import FunnelStep
from journeys.selectors.pipeline import conversion_of_moves
from journeys.services.checkins import OPEN_DAYS_AFTER_DUE
from patients.models import Channel

from .forms import MOST_DAYS
from .models import (
    DailyFigures,
    DailyFiguresDay,
    DailyLengths,
    DailyPatients,
    MonthlyFigures,
    MonthlyLengths,
    MonthlyPatients,
    MonthlyRollup,
)

# The longest range and the range before it (its trend), for a range ending any day of the last month.
FILL_DAYS = 2 * MOST_DAYS + 31
CHUNK_DAYS = 31  # days counted per statement, and per transaction
ADVISORY_LOCK = 0x616C_6C79_3233  # "ally23": one refill at a time on PostgreSQL

ADHERENCE, SENT, ANSWERED, BARRIER, MOVE = "adherence", "sent", "answered", "barrier", "move"
WAIT, STAY = "wait", "stay"


def clinic_zone() -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def start_of(day: date) -> datetime:
    """The first moment of a clinic day."""
    return datetime.combine(day, time.min, tzinfo=clinic_zone())


def recount_days(*, amend_hours: int) -> int:
    """How many days back a day's figures can still change, today included: a request goes out up to
    ``REQUEST_LATE_DAYS`` after its due day, a check-in stays open ``OPEN_DAYS_AFTER_DUE`` days after it (to the
    end of that day), and an answer is open to amendment ``amend_hours`` after it is given; one day of margin."""
    return REQUEST_LATE_DAYS + OPEN_DAYS_AFTER_DUE + 1 + math.ceil(amend_hours / 24) + 1


# --- Buckets and medians, the same for the roll-ups and the live count ----------------------------------


def wait_bucket(seconds: float) -> int:
    """Minutes from request to answer, bucketed so a day holds a few hundred lengths at most, whatever the
    clinic's size: whole minutes under 1 h, 5 minutes to 6 h, 15 minutes to 48 h, hours after (a median of
    hours is read to within minutes; ``format_duration`` shows days and hours past 48 h)."""
    minutes = int(seconds // 60)
    if minutes < 60:
        return minutes
    if minutes < 360:
        return minutes - minutes % 5
    if minutes < 2880:
        return minutes - minutes % 15
    return minutes - minutes % 60


def stay_bucket(seconds: float) -> int:
    """A stay's length in tenths of a day, to the nearest (halves up), and in whole days (as tenths) from 30
    days on: a long stay's median reads to the day, and a day's rows stay few at any size."""
    tenths = max(0, math.floor(seconds / 8640 + 0.5))
    return tenths if tenths < 300 else tenths - tenths % 10


def histogram_median(histogram: Mapping[int, int]) -> float | None:
    """The median of the values a histogram counts, interpolated between the two middle ones when their
    number is even (as ``percentile_cont(0.5)``)."""
    total = sum(histogram.values())
    if not total:
        return None
    low_rank, high_rank = (total - 1) // 2, total // 2
    low: int | None = None
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        if low is None and seen > low_rank:
            low = value
        if seen > high_rank:
            return ((low if low is not None else value) + value) / 2
    return None  # not reached: the ranks are below the total


# --- Counting days ---------------------------------------------------------------------------------------


@dataclass
class Days:
    """Some clinic days counted: additive rows, histogram rows and each day's patients who reported."""

    counts: dict[tuple[date, str, str], int] = field(default_factory=lambda: defaultdict(int))
    lengths: dict[tuple[date, str, str, int], int] = field(default_factory=lambda: defaultdict(int))
    patients: dict[date, int] = field(default_factory=lambda: defaultdict(int))


def _hour_key(channel: str, hour: int) -> str:
    return f"{channel}:{hour}"


def _count_adherence(days: Days, first: date, last: date) -> None:
    answers = CheckInAnswer.objects.filter(due_on__gte=first, due_on__lte=last).order_by()
    for due_on, *sums in (
        answers.values("due_on").annotate(**{name: Sum(name) for name in TALLY}).values_list("due_on", *TALLY)
    ):
        for name, n in zip(TALLY, sums, strict=True):
            if n and due_on is not None:
                days.counts[due_on, ADHERENCE, name] += n
    reported = Q(done__gt=0) | Q(partly__gt=0) | Q(missed__gt=0)
    ids: dict[date, list[int]] = defaultdict(list)
    for due_on, patient_id in answers.filter(reported).values_list("due_on", "patient_id").distinct():
        if due_on is not None:
            ids[due_on].append(patient_id)
    for day, day_ids in ids.items():  # bits set in a buffer: OR-ing big ints one id at a time is quadratic
        bits = bytearray(max(day_ids) // 8 + 1)
        for patient_id in day_ids:
            bits[patient_id >> 3] |= 1 << (patient_id & 7)
        days.patients[day] = int.from_bytes(bits, "little")


def _count_requests(days: Days, since: datetime, until: datetime, now: datetime) -> None:
    requests = compliance_selectors.checkin_requests(since=since, until=until, closed_by=now)
    zone = clinic_zone()
    answered = Q(status=CheckIn.Status.ANSWERED)
    if connection.vendor == "postgresql":
        sent_day = TruncDate("request_nudge__sent_at", tzinfo=zone)
        for day, channel, hour, sent, replied in (
            requests.annotate(
                day=sent_day, hour=LocalHour(F("request_nudge__sent_at"), F("journey__patient__time_zone"))
            )
            .values_list("day", "request_nudge__channel", "hour")
            .annotate(sent=Count("pk"), replied=Count("pk", filter=answered))
        ):
            days.counts[day, SENT, _hour_key(channel, int(hour))] += sent
            if replied:
                days.counts[day, ANSWERED, _hour_key(channel, int(hour))] += replied
        seconds = ExpressionWrapper(
            Extract(F("answered_at") - F("request_nudge__sent_at"), "epoch") / 60.0, output_field=FloatField()
        )
        minutes = F("minutes")
        for day, bucket, n in (
            requests.filter(answered, answered_at__gte=F("request_nudge__sent_at"))
            .annotate(day=sent_day, minutes=Cast(Floor(seconds), IntegerField()))
            .annotate(
                bucket=Case(
                    When(minutes__lt=60, then=minutes),
                    When(minutes__lt=360, then=minutes - minutes % 5),
                    When(minutes__lt=2880, then=minutes - minutes % 15),
                    default=minutes - minutes % 60,
                    output_field=IntegerField(),
                )
            )
            .values_list("day", "bucket")
            .annotate(n=Count("pk"))
        ):
            days.lengths[day, WAIT, "", int(bucket)] += n
        return
    zones: dict[str, zoneinfo.ZoneInfo] = {}
    for sent_at, channel, time_zone, status, answered_at in requests.values_list(
        "request_nudge__sent_at",
        "request_nudge__channel",
        "journey__patient__time_zone",
        "status",
        "answered_at",
    ):
        if sent_at is None:  # filtered out above; the type checker can't know
            continue
        day = sent_at.astimezone(zone).date()
        key = _hour_key(channel, sent_at.astimezone(compliance_selectors.zone_of(time_zone, zones)).hour)
        days.counts[day, SENT, key] += 1
        if status == CheckIn.Status.ANSWERED:
            days.counts[day, ANSWERED, key] += 1
            if answered_at is not None and answered_at >= sent_at:
                days.lengths[day, WAIT, "", wait_bucket((answered_at - sent_at).total_seconds())] += 1


BARRIERS_BY_DAY_SQL = """
SELECT (answer.answered_at AT TIME ZONE %s)::date, barrier.value, COUNT(*)
FROM compliance_checkinanswer AS answer
CROSS JOIN LATERAL jsonb_array_elements_text(
    CASE WHEN jsonb_typeof(answer.barriers) = 'array' THEN answer.barriers ELSE '[]'::jsonb END
) AS barrier(value)
WHERE answer.answered_at >= %s AND answer.answered_at < %s
GROUP BY 1, 2
"""


def _count_barriers(days: Days, since: datetime, until: datetime) -> None:
    """Barriers named, by the day answered; an answer names each category once (``checkin_answer_record``)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(BARRIERS_BY_DAY_SQL, [settings.TIME_ZONE, since, until])
            for day, value, n in cursor.fetchall():
                days.counts[day, BARRIER, str(value)] += n
        return
    zone = clinic_zone()
    for answered_at, barriers in CheckInAnswer.objects.filter(
        answered_at__gte=since, answered_at__lt=until
    ).values_list("answered_at", "barriers"):
        for value in dict.fromkeys(barriers) if isinstance(barriers, list) else ():
            days.counts[answered_at.astimezone(zone).date(), BARRIER, str(value)] += 1


def _count_moves(days: Days, since: datetime, until: datetime) -> None:
    """Journey moves per (from, to) by the day made; completed stays by the day they ended."""
    zone = clinic_zone()
    for day, from_stage, to_stage, n in (
        StageChange.objects.filter(at__gte=since, at__lt=until)
        .order_by()
        .annotate(day=TruncDate("at", tzinfo=zone))
        .values_list("day", "from_stage", "to_stage")
        .annotate(n=Count("pk"))
    ):
        days.counts[day, MOVE, f"{from_stage}>{to_stage}"] += n
    stays = StageChange.objects.filter(left_at__gte=since, left_at__lt=until).order_by()
    if connection.vendor == "postgresql":
        tenths = ExpressionWrapper(
            Extract(F("left_at") - F("at"), "epoch") / 8640.0 + 0.5, output_field=FloatField()
        )
        whole = F("tenths")
        for day, stage, length, n in (
            stays.annotate(day=TruncDate("left_at", tzinfo=zone), tenths=Cast(Floor(tenths), IntegerField()))
            .annotate(
                length=Case(
                    When(tenths__lt=300, then=whole), default=whole - whole % 10, output_field=IntegerField()
                )
            )
            .values_list("day", "to_stage", "length")
            .annotate(n=Count("pk"))
        ):
            days.lengths[day, STAY, stage, max(0, int(length))] += n
        return
    for stage, at, left_at in stays.values_list("to_stage", "at", "left_at"):
        if left_at is not None:  # filtered out above; the type checker can't know
            day = left_at.astimezone(zone).date()
            days.lengths[day, STAY, stage, stay_bucket((left_at - at).total_seconds())] += 1


def days_count(*, first: date, last: date, now: datetime, adherence_from: date | None = None) -> Days:
    """Count the clinic days ``first`` to ``last`` (and adherence from ``adherence_from``, for a trend): seven
    queries on PostgreSQL, six elsewhere, however many days or rows."""
    days = Days()
    since, until = start_of(first), min(start_of(last + timedelta(days=1)), now)
    _count_adherence(days, adherence_from or first, last)
    _count_requests(days, since, until, now)
    _count_barriers(days, since, until)
    _count_moves(days, since, until)
    return days


# --- Figures of a range, from summed days ----------------------------------------------------------------


@dataclass(frozen=True)
class Summed:
    """A range's days summed: adherence per week (its Monday) over the range's days and over the range before
    it (the trend), the other counts per (measure, key) over the range, the histograms per (measure, key), the
    patients' bitmap."""

    weeks: dict[date, dict[str, int]]
    previous: dict[str, int]
    counts: dict[tuple[str, str], int]
    lengths: dict[tuple[str, str], dict[int, int]]
    patients: int


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def summed(days: Days, *, start: date, end: date) -> Summed:
    """``Days`` counted live, summed over ``start`` to ``end`` as the roll-ups' reads sum them."""
    before = previous_start(start, end)
    weeks: dict[date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    previous: dict[str, int] = defaultdict(int)
    counts: dict[tuple[str, str], int] = defaultdict(int)
    lengths: dict[tuple[str, str], dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for (day, measure, key), n in days.counts.items():
        if measure == ADHERENCE:
            if start <= day <= end:
                weeks[monday_of(day)][key] += n
            elif before <= day < start:
                previous[key] += n
        elif start <= day <= end:
            counts[measure, key] += n
    for (day, measure, key, length), n in days.lengths.items():
        if start <= day <= end:
            lengths[measure, key][length] += n
    bits = 0
    for day, day_bits in days.patients.items():
        if start <= day <= end:
            bits |= day_bits
    return Summed(weeks=weeks, previous=previous, counts=counts, lengths=lengths, patients=bits.bit_count())


def _score(days: Iterable[dict[str, int]]) -> tuple[float | None, int]:
    tally = dict.fromkeys(TALLY, 0)
    for counts in days:
        for name, n in counts.items():
            tally[name] += n
    return compliance_selectors.tally_score(tally)


def _adherence(sums: Summed, start: date, end: date) -> tuple[ClinicAdherence, list[WeekAdherence]]:
    score, reports = _score(sums.weeks.values())
    adherence = ClinicAdherence(
        window_start=start,
        window_end=end,
        score=score,
        previous_score=_score([sums.previous])[0],
        reports=reports,
        patients=sums.patients,
    )
    weeks = []
    monday = monday_of(start)
    while monday <= end:
        week_score, week_reports = _score([sums.weeks.get(monday, {})])
        weeks.append(WeekAdherence(week=monday, score=week_score, reports=week_reports))
        monday += timedelta(weeks=1)
    return adherence, weeks


def _responses(sums: Summed, since: datetime, until: datetime) -> ResponseRates:
    channels: dict[str, list[int]] = {value: [0, 0] for value in Channel.values}
    hours: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for (measure, key), n in sorted(sums.counts.items()):
        if measure not in (SENT, ANSWERED):
            continue
        channel, hour = key.rsplit(":", 1)
        index = 0 if measure == SENT else 1
        channels.setdefault(channel, [0, 0])[index] += n
        hours[int(hour)][index] += n
    median = histogram_median(sums.lengths.get((WAIT, ""), {}))
    labels = dict(Channel.choices)
    return ResponseRates(
        since=since,
        until=until,
        by_channel=[
            Rate(key=key, label=labels.get(key, key), sent=sent, answered=answered)
            for key, (sent, answered) in channels.items()
        ],
        by_hour=[
            Rate(key=str(hour), label=f"{hour:02d}:00–{hour:02d}:59", sent=sent, answered=answered)
            for hour, (sent, answered) in sorted(hours.items())
        ],
        median_to_answer=None if median is None else timedelta(minutes=median),
        sent=sum(sent for sent, _ in channels.values()),
        answered=sum(answered for _, answered in channels.values()),
    )


def _barriers(sums: Summed) -> list[tuple[str, int]]:
    counts: dict[str, int] = defaultdict(int)
    for (measure, key), n in sums.counts.items():
        if measure == BARRIER:
            counts[BARRIER_LABELS.get(key, key)] += n
    return sorted(counts.items(), key=lambda pair: (-pair[1], pair[0]))


def _funnel(sums: Summed) -> list[FunnelStep]:
    moves: dict[tuple[str, str], int] = {}
    for (measure, key), n in sums.counts.items():
        if measure == MOVE:
            from_stage, to_stage = key.split(">", 1)
            moves[from_stage, to_stage] = n
    conversion = conversion_of_moves(moves)
    medians = {
        key: histogram_median(histogram)
        for (measure, key), histogram in sums.lengths.items()
        if measure == STAY
    }
    steps = []
    for stage, following in zip(PATH, [*PATH[1:], None], strict=True):
        median = medians.get(stage)
        steps.append(
            FunnelStep(
                stage=stage,
                entered=conversion[stage][0],
                went_on=conversion[stage][1],
                next_stage=following,
                median_days=None if median is None else round(median / 10, 1),
            )
        )
    return steps


@dataclass(frozen=True)
class RangeCounts:
    """The parts of ``dashboard.figures.RangeFigures`` (which adds ``as_of``)."""

    adherence: ClinicAdherence
    weekly: list[WeekAdherence]
    responses: ResponseRates
    barriers: list[tuple[str, int]]
    funnel: list[FunnelStep]


def figures_of(sums: Summed, *, start: date, end: date, now: datetime) -> RangeCounts:
    """Insights' figures for ``start`` to ``end`` from its summed days. The funnel's median days are those of
    the stays that ended in the range."""
    adherence, weekly = _adherence(sums, start, end)
    until = min(now, start_of(end + timedelta(days=1)))
    return RangeCounts(
        adherence=adherence,
        weekly=weekly,
        responses=_responses(sums, start_of(start), until),
        barriers=_barriers(sums),
        funnel=_funnel(sums),
    )


def previous_start(start: date, end: date) -> date:
    return start - timedelta(days=(end - start).days + 1)


def figures_count(*, start: date, end: date, now: datetime) -> RangeCounts:
    """The range's figures counted now: its days counted live, summed, as the roll-ups would be."""
    days = days_count(first=start, last=end, now=now, adherence_from=previous_start(start, end))
    return figures_of(summed(days, start=start, end=end), start=start, end=end, now=now)


# --- Reading the roll-ups --------------------------------------------------------------------------------


def _fresh_since(now: datetime) -> datetime:
    return now - timedelta(seconds=2 * settings.FIGURES_REFRESH_SECONDS)


def month_last(month: date) -> date:
    """The last day of the month that ``month`` is in."""
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


def whole_months(first: date, last: date, *, today: date) -> list[date]:
    """The months (their first days) lying wholly in ``first`` to ``last`` and over before ``today``: the
    month still growing is never one."""
    months = []
    month = first if first.day == 1 else month_last(first) + timedelta(days=1)
    while month_last(month) <= last and month_last(month) < today:
        months.append(month)
        month = month_last(month) + timedelta(days=1)
    return months


@dataclass(frozen=True)
class Reading:
    """How a span of days is read from the roll-ups: the rows of ``months`` and of the days ``days``, less
    (for histograms, ``subtract``) the rows of the days ``outside`` — days of those months outside the span."""

    months: list[date]
    days: Q
    outside: Q


def reading(first: date, last: date, *, stored: set[date], subtract: bool = False) -> Reading:
    """Read the days ``first`` to ``last``: each whole month in ``stored`` from its month rows, the others' days
    from their day rows; with ``subtract``, a month of ``stored`` the span covers more than half of is read as
    its month rows less its days outside the span. A month's rows are the sums of its days' rows
    (``_months_store``), so either way the span's own day rows are summed, exactly."""
    months: list[date] = []
    days, outside = Q(pk__in=[]), Q(pk__in=[])
    month = first.replace(day=1)
    while month <= last:
        month_end = month_last(month)
        inside_first, inside_last = max(first, month), min(last, month_end)
        inside = (inside_last - inside_first).days + 1
        if month in stored and (inside == month_end.day or (subtract and 2 * inside > month_end.day)):
            months.append(month)
            if month < inside_first:
                outside |= Q(day__gte=month, day__lt=inside_first)
            if inside_last < month_end:
                outside |= Q(day__gt=inside_last, day__lte=month_end)
        else:
            days |= Q(day__gte=inside_first, day__lte=inside_last)
        month = month_end + timedelta(days=1)
    return Reading(months=months, days=days, outside=outside)


def _days_by_month(first: date, last: date) -> dict[date, tuple[int, datetime | None]]:
    """How many days of each month touching ``first`` to ``last`` are counted, and the newest count."""
    return {
        month: (days, newest)
        for month, days, newest in DailyFiguresDay.objects.filter(
            day__gte=first.replace(day=1), day__lte=month_last(last)
        )
        .annotate(month=TruncMonth("day"))
        .order_by()
        .values("month")
        .annotate(days=Count("pk"), newest=Max("counted_at"))
        .values_list("month", "days", "newest")
    }


def _months_usable(
    first: date, last: date, *, counted: Mapping[date, tuple[int, datetime | None]], today: date
) -> set[date]:
    """The months touching ``first`` to ``last`` whose month rows are stored, complete, and summed since their
    newest day was counted (``counted``: ``_days_by_month``): a month whose day was counted again by a refresh
    that did not sum it (cut short, or code from before the month roll-ups) is read from its days."""
    return {
        month
        for month, through, counted_at in MonthlyRollup.objects.filter(
            month__gte=first.replace(day=1), month__lte=last
        ).values_list("month", "through", "counted_at")
        if through == month_last(month) < today and counted.get(month) == (through.day, counted_at)
    }


def months_stored(first: date, last: date, *, today: date) -> set[date]:
    """The months touching ``first`` to ``last`` whose month rows can be read (two queries)."""
    return _months_usable(first, last, counted=_days_by_month(first, last), today=today)


def lengths_stored(*, start: date, end: date, stored: set[date]) -> dict[tuple[str, str], dict[int, int]]:
    """The histograms of ``start`` to ``end`` from the roll-ups (``reading`` with ``subtract``): two queries,
    the month rows' and the day rows' (those outside the range counted negative). Not one UNION: PostgreSQL
    runs its branches in parallel workers, whose start cost more here than the reads."""
    read = reading(start, end, stored=stored, subtract=True)
    by_length = ("measure", "key", "length")
    lengths: dict[tuple[str, str], dict[int, int]] = defaultdict(lambda: defaultdict(int))
    never = Q(pk__isnull=True)  # so that each query runs, whatever it reads: the same queries for any range
    for rows in (
        MonthlyLengths.objects.filter(Q(month__in=read.months) | never)
        .values(*by_length)
        .annotate(total=Sum("n")),
        DailyLengths.objects.filter(read.days | read.outside | never)
        .values(*by_length)
        .annotate(
            total=Sum(Case(When(read.outside, then=-F("n")), default=F("n"), output_field=IntegerField()))
        ),
    ):
        for measure, key, length, n in rows.values_list(*by_length, "total"):
            lengths[measure, key][length] += n
    return {
        measure_key: kept
        for measure_key, histogram in lengths.items()
        if (kept := {length: n for length, n in histogram.items() if n})
    }


def figures_stored(*, start: date, end: date, now: datetime) -> tuple[RangeCounts, datetime] | None:
    """The range's figures from the roll-ups, and when they were counted; None unless every day of the range
    and of the range before it is counted, and counted fresh if it could still change. The range's whole
    months (and those of the range before it) are read from their month rows where stored, its other days from
    their day rows, and its histograms from the month rows less the days outside the range where that reads
    fewer rows (``reading``): sums of the range's own day rows every way, so the same figures. Seven queries,
    however long the range."""
    before = previous_start(start, end)
    # The days of the range and of the range before it, and of the months they touch, in one read.
    inside = Q(day__gte=before, day__lte=end)
    days = stale = 0
    open_counts, counts_made = [], []
    counted: dict[date, tuple[int, datetime | None]] = {}
    for month, in_days, in_stale, oldest_open, newest, month_days, month_newest in (
        DailyFiguresDay.objects.filter(day__gte=before.replace(day=1), day__lte=month_last(end))
        .annotate(month=TruncMonth("day"))
        .order_by()
        .values("month")
        .annotate(
            in_days=Count("pk", filter=inside),
            in_stale=Count("pk", filter=inside & Q(final=False, counted_at__lt=_fresh_since(now))),
            oldest_open=Min("counted_at", filter=inside & Q(final=False)),
            newest=Max("counted_at", filter=inside),
            month_days=Count("pk"),
            month_newest=Max("counted_at"),
        )
        .values_list("month", "in_days", "in_stale", "oldest_open", "newest", "month_days", "month_newest")
    ):
        days, stale = days + in_days, stale + in_stale
        open_counts += [oldest_open] if oldest_open is not None else []
        counts_made += [newest] if newest is not None else []
        counted[month] = (month_days, month_newest)
    if days != (end - before).days + 1 or stale:
        return None
    # A final day's count never changes, whenever it was made: the figures are as of the oldest count of a
    # day that could still change, or of the latest count when none could.
    as_of = min(open_counts) if open_counts else max(counts_made)
    stored = _months_usable(before, end, counted=counted, today=timezone.localdate(now, clinic_zone()))
    now_read = reading(start, end, stored=stored)
    before_read = reading(before, start - timedelta(days=1), stored=stored)
    weeks: dict[date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for monday, key, n in (
        DailyFigures.objects.filter(day__gte=start, day__lte=end, measure=ADHERENCE)
        .annotate(week=TruncWeek("day"))
        .order_by()
        .values("week", "key")
        .annotate(total=Sum("n"))
        .values_list("week", "key", "total")
    ):
        weeks[monday][key] += n
    # The range's counts but adherence, and the adherence of the range before it: month rows and day rows.
    by_key = ("measure", "key")
    previous: dict[str, int] = defaultdict(int)
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for measure, key, n in (
        MonthlyFigures.objects.filter(month__in=now_read.months)
        .exclude(measure=ADHERENCE)
        .values(*by_key)
        .annotate(total=Sum("n"))
        .values_list(*by_key, "total")
        .union(
            DailyFigures.objects.filter(now_read.days)
            .exclude(measure=ADHERENCE)
            .values(*by_key)
            .annotate(total=Sum("n"))
            .values_list(*by_key, "total"),
            MonthlyFigures.objects.filter(month__in=before_read.months, measure=ADHERENCE)
            .values(*by_key)
            .annotate(total=Sum("n"))
            .values_list(*by_key, "total"),
            DailyFigures.objects.filter(before_read.days, measure=ADHERENCE)
            .values(*by_key)
            .annotate(total=Sum("n"))
            .values_list(*by_key, "total"),
            all=True,
        )
    ):
        if measure == ADHERENCE:
            previous[key] += n
        else:
            counts[measure, key] += n
    lengths = lengths_stored(start=start, end=end, stored=stored)
    bits = 0
    for bitmap in (
        MonthlyPatients.objects.filter(month__in=now_read.months)
        .values_list("bits", flat=True)
        .union(DailyPatients.objects.filter(now_read.days).values_list("bits", flat=True), all=True)
    ):
        bits |= int.from_bytes(bytes(bitmap), "little")
    sums = Summed(weeks=weeks, previous=previous, counts=counts, lengths=lengths, patients=bits.bit_count())
    return figures_of(sums, start=start, end=end, now=now), as_of


# --- Refreshing the roll-ups -----------------------------------------------------------------------------


def _chunks(days: list[date]) -> Iterator[tuple[date, date]]:
    """Runs of consecutive days, cut to ``CHUNK_DAYS`` at most."""
    run: list[date] = []
    for day in sorted(days):
        if run and (day != run[-1] + timedelta(days=1) or len(run) == CHUNK_DAYS):
            yield run[0], run[-1]
            run = []
        run.append(day)
    if run:
        yield run[0], run[-1]


def _bitmap(bits: int) -> bytes:
    return bits.to_bytes((bits.bit_length() + 7) // 8, "little")


@transaction.atomic
def _store(first: date, last: date, *, now: datetime, final_before: date) -> None:
    """Count the days ``first`` to ``last`` and replace their rows: a fixed number of statements."""
    days = days_count(first=first, last=last, now=now)
    span = Q(day__gte=first, day__lte=last)
    for model in (DailyFigures, DailyLengths, DailyPatients, DailyFiguresDay):
        model.objects.filter(span).delete()
    # The months of these days no longer equal their days: unread until ``_months_store`` sums them again.
    MonthlyRollup.objects.filter(month__gte=first.replace(day=1), month__lte=last).delete()
    DailyFigures.objects.bulk_create(
        DailyFigures(day=day, measure=measure, key=key, n=n)
        for (day, measure, key), n in days.counts.items()
        if n and first <= day <= last
    )
    DailyLengths.objects.bulk_create(
        DailyLengths(day=day, measure=measure, key=key, length=length, n=n)
        for (day, measure, key, length), n in days.lengths.items()
        if n and first <= day <= last
    )
    DailyPatients.objects.bulk_create(
        DailyPatients(day=day, bits=_bitmap(bits))
        for day, bits in days.patients.items()
        if bits and first <= day <= last
    )
    DailyFiguresDay.objects.bulk_create(
        DailyFiguresDay(
            day=first + timedelta(days=i), counted_at=now, final=first + timedelta(days=i) < final_before
        )
        for i in range((last - first).days + 1)
    )


def _locked() -> bool:
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [ADVISORY_LOCK])
        return bool(cursor.fetchone()[0])


def _unlock() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [ADVISORY_LOCK])


def rollups_forget() -> None:
    """Mark every day as never counted, so the next refresh counts them all again: after rows were written
    for past days without the services (``seed_scale``). Until then a range is counted live."""
    DailyFiguresDay.objects.all().delete()
    MonthlyRollup.objects.all().delete()


@transaction.atomic
def _months_store(months: list[date], *, counted_at: Mapping[date, datetime]) -> None:
    """Sum the days of ``months`` (complete, every day counted) into their month rows and replace theirs: a
    fixed number of statements, however many months."""
    days = Q(pk__in=[])
    for month in months:
        days |= Q(day__gte=month, day__lte=month_last(month))
    for model in (MonthlyFigures, MonthlyLengths, MonthlyPatients, MonthlyRollup):
        model.objects.filter(month__in=months).delete()
    by_key = ("month", "measure", "key")
    MonthlyFigures.objects.bulk_create(
        MonthlyFigures(month=month, measure=measure, key=key, n=n)
        for month, measure, key, n in DailyFigures.objects.filter(days)
        .annotate(month=TruncMonth("day"))
        .order_by()
        .values(*by_key)
        .annotate(total=Sum("n"))
        .values_list(*by_key, "total")
    )
    by_length = (*by_key, "length")
    MonthlyLengths.objects.bulk_create(
        MonthlyLengths(month=month, measure=measure, key=key, length=length, n=n)
        for month, measure, key, length, n in DailyLengths.objects.filter(days)
        .annotate(month=TruncMonth("day"))
        .order_by()
        .values(*by_length)
        .annotate(total=Sum("n"))
        .values_list(*by_length, "total")
    )
    bits: dict[date, int] = defaultdict(int)
    for day, bitmap in DailyPatients.objects.filter(days).values_list("day", "bits"):
        bits[day.replace(day=1)] |= int.from_bytes(bytes(bitmap), "little")
    MonthlyPatients.objects.bulk_create(
        MonthlyPatients(month=month, bits=_bitmap(month_bits))
        for month, month_bits in bits.items()
        if month_bits
    )
    MonthlyRollup.objects.bulk_create(
        MonthlyRollup(month=month, through=month_last(month), counted_at=counted_at[month])
        for month in months
    )


def _months_refresh(*, first: date, today: date, counted_at: Mapping[date, datetime]) -> int:
    """Sum the complete months from ``first`` to yesterday whose month rows are missing or older than the
    newest count of one of their days (``counted_at``: each day's). Returns how many months were summed."""
    newest: dict[date, datetime] = {}
    for day, at in counted_at.items():
        month = day.replace(day=1)
        newest[month] = max(at, newest.get(month, at))
    months = whole_months(first, today, today=today)
    stored = dict(MonthlyRollup.objects.filter(month__in=months).values_list("month", "counted_at"))
    todo = [month for month in months if stored.get(month) != newest.get(month)]
    if todo:
        _months_store(todo, counted_at=newest)
    return len(todo)


def rollups_refresh(*, now: datetime | None = None, everything: bool = False) -> int:
    """Count the days never counted (back to ``FILL_DAYS``) and those that can still change, a chunk of at
    most ``CHUNK_DAYS`` per transaction (a run cut short keeps the chunks it finished); ``everything``
    recounts every day (after a bulk load). Then sum each complete month whose days were counted since it was
    last summed, from its day rows (the month still growing is read from its days). Skipped while another
    refresh holds the lock. Returns how many days were counted."""
    now = now or timezone.now()
    today = timezone.localdate(now, clinic_zone())
    first = today - timedelta(days=FILL_DAYS - 1)
    final_before = today - timedelta(days=recount_days(amend_hours=ClinicSettings.load().amend_hours) - 1)
    if not _locked():
        return 0
    try:
        counted = {
            day: (final, at)
            for day, final, at in DailyFiguresDay.objects.values_list("day", "final", "counted_at")
        }
        done = set() if everything else {day for day, (final, _) in counted.items() if final}
        wanted = [first + timedelta(days=i) for i in range(FILL_DAYS)]
        todo = [day for day in wanted if day not in done]
        for chunk_first, chunk_last in _chunks(todo):
            _store(chunk_first, chunk_last, now=now, final_before=final_before)
        if min(counted, default=first) < first:  # days gone by: once a day
            for model in (DailyFigures, DailyLengths, DailyPatients, DailyFiguresDay):
                model.objects.filter(day__lt=first).delete()
            for model in (MonthlyFigures, MonthlyLengths, MonthlyPatients, MonthlyRollup):
                model.objects.filter(month__lt=first).delete()
        counted_at = {day: at for day, (_, at) in counted.items() if day >= first} | dict.fromkeys(todo, now)
        _months_refresh(first=first, today=today, counted_at=counted_at)
        return len(todo)
    finally:
        _unlock()
