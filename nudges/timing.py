"""Quiet hours in the patient's own time zone, correct across daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def in_quiet_hours(local: time, start: time, end: time) -> bool:
    if start < end:
        return start <= local < end
    return local >= start or local < end


def _at(day: date, wall: time, tz: ZoneInfo) -> datetime:
    """The instant a wall-clock time happens on ``day``: the first of two in a fall-back hour,
    and, inside a spring-forward gap, the instant the clocks jump to."""
    return datetime.combine(day, wall, tzinfo=tz).astimezone(UTC)


def next_allowed_moment(moment: datetime, *, tz: ZoneInfo, start: time, end: time) -> datetime:
    """``moment`` itself if it falls outside quiet hours in ``tz``, else the first minute they end."""
    local = moment.astimezone(tz)
    wall = local.time().replace(tzinfo=None)
    if not in_quiet_hours(wall, start, end):
        return moment
    day = local.date()
    if start > end and wall >= start:
        day += timedelta(days=1)  # quiet hours wrap midnight: they end tomorrow morning
    candidate = _at(day, end, tz)
    if candidate <= moment:  # only inside a repeated fall-back hour; move to the next day's end
        candidate = _at(day + timedelta(days=1), end, tz)
    return candidate
