"""Quiet hours in the patient's own time zone, exact across daylight-saving changes.

A moment is *quiet* when the patient's clock then shows a time in ``[start, end)`` — or when that
night's quiet hours have begun and their end has not come yet, so a clock turned back in the autumn
never reopens a night already begun. Quiet hours begin at the first moment the clock shows ``start``
and end at the first moment after that the clock shows ``end``; when the clocks jump over either time
in the spring, at the instant they jump.

Nothing starts sending within ``START_MARGIN`` before quiet hours begin: a nudge checked a few
milliseconds before 20:00 would otherwise reach the patient after it. (An allowed stretch shorter than
twice the margin keeps its first half.)
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

START_MARGIN = timedelta(minutes=2)
_DAYS_BEFORE, _DAYS_AFTER = 1, 3  # a night began at most a day ago; every answer lies within two nights
_SAMPLE = timedelta(hours=12)  # clocks change at most once in twelve hours in every zone in use


def in_quiet_hours(local: time, start: time, end: time) -> bool:
    """Whether a wall-clock time is inside quiet hours (which may wrap midnight)."""
    if start < end:
        return start <= local < end
    return local >= start or local < end


def next_allowed_moment(
    moment: datetime, *, tz: ZoneInfo, start: time, end: time, margin: timedelta = START_MARGIN
) -> datetime:
    """``moment`` itself if a nudge may start then; else the first moment after it that one may.

    A nudge may start when it is not quiet and quiet hours do not begin within ``margin``.
    """
    moment = moment.astimezone(UTC)
    if _clearly_allowed(moment, tz, start, end, margin):
        return moment
    for begins, ends in _allowed_stretches(moment, tz, start, end):
        if ends <= moment:
            continue
        keep = min(margin, (ends - begins) / 2)
        candidate = max(moment, begins)
        if candidate + keep <= ends and candidate < ends:
            return candidate
    raise AssertionError("quiet hours leave no allowed moment within days")  # pragma: no cover


# --- How it is worked out --------------------------------------------------------------------------


def _wall(instant: datetime, tz: ZoneInfo) -> time:
    return instant.astimezone(tz).time()


def _offset(instant: datetime, tz: ZoneInfo) -> timedelta:
    return instant.astimezone(tz).utcoffset()


def _clearly_allowed(moment: datetime, tz: ZoneInfo, start: time, end: time, margin: timedelta) -> bool:
    """The common case, cheaply: no clock change nearby, not quiet now and not within ``margin``."""
    later = moment + margin
    offset = _offset(moment, tz)
    if _offset(moment - timedelta(days=1, hours=2), tz) != offset or _offset(later, tz) != offset:
        return False
    quiet_length = (datetime.combine(date.min, end) - datetime.combine(date.min, start)) % timedelta(days=1)
    if quiet_length <= margin:
        return False  # a quiet stretch that short could hide between the two readings below
    return not in_quiet_hours(_wall(moment, tz), start, end) and not in_quiet_hours(
        _wall(later, tz), start, end
    )


def _clock_changes(lo: datetime, hi: datetime, tz: ZoneInfo) -> list[datetime]:
    """The instants in ``(lo, hi]`` at which the zone's offset changes (the first instant of the new one)."""
    changes = []
    left = lo
    while left < hi:
        right = min(left + _SAMPLE, hi)
        old = _offset(left, tz)
        if _offset(right, tz) != old:
            before, after = int(left.timestamp()), int(right.timestamp())  # clocks change on a whole second
            while after - before > 1:
                middle = (before + after) // 2
                if _offset(datetime.fromtimestamp(middle, UTC), tz) == old:
                    before = middle
                else:
                    after = middle
            changes.append(datetime.fromtimestamp(after, UTC))
        left = right
    return changes


def _showing(day: date, wall: time, tz: ZoneInfo) -> list[datetime]:
    """Every instant at which the clock shows ``wall`` on ``day``: none in a spring gap, two in the autumn."""
    naive = datetime.combine(day, wall)
    found = set()
    for fold in (0, 1):
        instant = naive.replace(tzinfo=tz, fold=fold).astimezone(UTC)
        if instant.astimezone(tz).replace(tzinfo=None) == naive:
            found.add(instant)
    return sorted(found)


def _reaching(
    day: date, wall: time, tz: ZoneInfo, changes: list[datetime]
) -> list[tuple[datetime, datetime]]:
    """When the clock reaches ``wall`` on ``day`` — each time it shows it, or the instant it jumps over it —
    each with the wall-clock time reached, which orders two times one jump passes together."""
    mark = datetime.combine(day, wall)
    shown = _showing(day, wall, tz)
    if shown:
        return [(instant, mark) for instant in shown]
    earliest = mark.replace(tzinfo=tz, fold=1).astimezone(UTC)
    latest = mark.replace(tzinfo=tz, fold=0).astimezone(UTC)
    return [(change, mark) for change in changes if earliest < change <= latest][:1]


def _allowed_stretches(
    moment: datetime, tz: ZoneInfo, start: time, end: time
) -> list[tuple[datetime, datetime]]:
    """The allowed stretches ``[begins, ends)`` from the day before ``moment`` to three days after it."""
    first_day = moment.astimezone(tz).date() - timedelta(days=_DAYS_BEFORE)
    days = [first_day + timedelta(days=n) for n in range(_DAYS_BEFORE + _DAYS_AFTER + 2)]
    lo = datetime.combine(days[0], time(), tzinfo=tz).astimezone(UTC) - timedelta(hours=3)
    hi = datetime.combine(days[-1], time(), tzinfo=tz).astimezone(UTC) + timedelta(days=1, hours=3)
    changes = _clock_changes(lo, hi, tz)
    starts = {day: _reaching(day, start, tz, changes) for day in days}
    end_reached = sorted({reach for day in days for reach in _reaching(day, end, tz, changes)})
    # A night begins when the clock first reaches start on a day, and ends when it next reaches end.
    nights = []
    for day in days[:-1]:
        begins = starts[day][0]
        nights.append((begins[0], next(reach for reach in end_reached if reach > begins)[0]))
    # Whether a moment is quiet can change only where the clock reaches start or end.
    edges = sorted(
        {*changes, *(i for day in days[:-1] for i, _ in starts[day]), *(i for i, _ in end_reached)}
    )
    edges = [edge for edge in edges if nights[0][0] <= edge <= nights[-1][1]]

    def quiet(instant: datetime) -> bool:
        if in_quiet_hours(_wall(instant, tz), start, end):
            return True
        return any(begins <= instant < ends for begins, ends in nights)

    stretches, opened = [], None
    for edge in edges:
        if quiet(edge):
            if opened is not None:
                stretches.append((opened, edge))
                opened = None
        elif opened is None:
            opened = edge
    return stretches


# Marketing-type messages (a referral or testimonial ask, a thank-you for a referral) go only between these
# local times, whatever the patient's own quiet hours allow: outside them is quiet for marketing.
MARKETING_START, MARKETING_END = time(9, 0), time(20, 0)


def next_marketing_moment(
    moment: datetime, *, tz: ZoneInfo, start: time, end: time, margin: timedelta = START_MARGIN
) -> datetime:
    """The first moment from ``moment`` outside the patient's quiet hours (``start``–``end``) *and* inside
    ``MARKETING_START``–``MARKETING_END`` on their clock."""
    for _ in range(8):  # each pass moves past one stretch; two windows settle within a few passes
        later = next_allowed_moment(moment, tz=tz, start=start, end=end, margin=margin)
        later = next_allowed_moment(later, tz=tz, start=MARKETING_END, end=MARKETING_START, margin=margin)
        if later == moment:
            return later
        moment = later
    return moment  # pragma: no cover
