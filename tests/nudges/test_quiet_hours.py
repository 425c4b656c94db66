"""Quiet hours across daylight-saving changes: the first allowed minute, and never a start just before
quiet hours begin. Explicit cases in New York and London, then properties over many dates and windows
checked against a brute-force reading of the patient's clock, minute by minute."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nudges import services
from nudges.timing import START_MARGIN, in_quiet_hours, next_allowed_moment

NEW_YORK, LONDON = ZoneInfo("America/New_York"), ZoneInfo("Europe/London")
MINUTE = timedelta(minutes=1)
NO_MARGIN = timedelta(0)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --- Explicit cases --------------------------------------------------------------------------------
# New York, 2026: springs forward 8 March at 07:00 UTC (02:00 EST → 03:00 EDT); falls back 1 November at
# 06:00 UTC (02:00 EDT → 01:00 EST). London, 2026: springs forward 29 March at 01:00 UTC (01:00 GMT → 02:00
# BST); falls back 25 October at 01:00 UTC (02:00 BST → 01:00 GMT).

CASES = [
    # Quiet hours end inside the skipped hour: the first allowed minute is the instant the clocks jump.
    ("ny: ends at 02:30, skipped", NEW_YORK, time(22), time(2, 30), utc(2026, 3, 8, 4), utc(2026, 3, 8, 7)),
    ("ny: ends at 02:00, skipped", NEW_YORK, time(22), time(2), utc(2026, 3, 8, 4), utc(2026, 3, 8, 7)),
    ("london: ends at 01:30, skipped", LONDON, time(23), time(1, 30), utc(2026, 3, 28, 23, 30), utc(2026, 3, 29, 1)),
    # Quiet hours end inside the repeated hour: the first 01:30 ends the night…
    ("ny: ends at 01:30, first pass", NEW_YORK, time(20), time(1, 30), utc(2026, 11, 1, 3), utc(2026, 11, 1, 5, 30)),
    ("london: ends at 01:15, first pass", LONDON, time(22), time(1, 15), utc(2026, 10, 24, 23, 30), utc(2026, 10, 25, 0, 15)),
    # …and while the clock shows 01:00–01:30 a second time it is quiet again, until the second 01:30.
    ("ny: ends at 01:30, second pass", NEW_YORK, time(20), time(1, 30), utc(2026, 11, 1, 6, 10), utc(2026, 11, 1, 6, 30)),
    ("london: ends at 01:15, second pass", LONDON, time(22), time(1, 15), utc(2026, 10, 25, 1, 5), utc(2026, 10, 25, 1, 15)),
    # Between the two passes the clock shows 01:30–01:59 EDT: allowed, unless within the margin of 01:00 EST.
    ("ny: between the passes", NEW_YORK, time(20), time(1, 30), utc(2026, 11, 1, 5, 45), utc(2026, 11, 1, 5, 45)),
    ("ny: a minute before the second pass", NEW_YORK, time(20), time(1, 30), utc(2026, 11, 1, 5, 59), utc(2026, 11, 1, 6, 30)),
    # Quiet hours that begin inside the repeated hour: a clock turned back does not reopen the night.
    ("ny: begins at 01:30, clock turned back", NEW_YORK, time(1, 30), time(8), utc(2026, 11, 1, 6, 10), utc(2026, 11, 1, 13)),
    # Quiet hours that begin inside the skipped hour begin when the clocks jump.
    ("ny: begins at 02:30, skipped", NEW_YORK, time(2, 30), time(8), utc(2026, 3, 8, 6, 59), utc(2026, 3, 8, 12)),
    # The ordinary nights either side of a change.
    ("ny: 20–08 on the spring night", NEW_YORK, time(20), time(8), utc(2026, 3, 8, 5), utc(2026, 3, 8, 12)),
    ("ny: 20–08 on the autumn night", NEW_YORK, time(20), time(8), utc(2026, 11, 1, 5, 30), utc(2026, 11, 1, 13)),
    ("london: 20–08 on the autumn night", LONDON, time(20), time(8), utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 8)),
]  # fmt: skip


@pytest.mark.parametrize(
    ("zone", "start", "end", "moment", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_the_chosen_moment_is_the_first_allowed_minute(zone, start, end, moment, expected):
    assert next_allowed_moment(moment, tz=zone, start=start, end=end) == expected


@pytest.mark.parametrize(
    ("before_start", "expected"),
    [
        (timedelta(milliseconds=5), utc(2026, 6, 11, 12)),  # measured: a send began 5 ms after quiet began
        (timedelta(minutes=1, seconds=59), utc(2026, 6, 11, 12)),
        (START_MARGIN + timedelta(microseconds=1), None),
        (START_MARGIN, None),  # exactly the margin away: allowed
        (timedelta(hours=3), None),
    ],
)
def test_nothing_starts_within_the_margin_before_quiet_hours_begin(before_start, expected):
    quiet_begins = utc(2026, 6, 11, 0)  # 20:00 EDT on 10 June
    moment = quiet_begins - before_start
    chosen = next_allowed_moment(moment, tz=NEW_YORK, start=time(20), end=time(8))
    assert chosen == (expected or moment)


def test_the_margin_is_a_small_one():
    assert timedelta(minutes=1) <= START_MARGIN <= timedelta(minutes=2)


def test_an_allowed_stretch_shorter_than_twice_the_margin_keeps_its_first_half():
    # Quiet 08:01–08:00: one allowed minute a day, 08:00–08:01. Its first 30 seconds may still start a send.
    start, end = time(8, 1), time(8, 0)
    opens = utc(2026, 6, 10, 12)  # 08:00 EDT
    assert next_allowed_moment(opens - timedelta(hours=3), tz=NEW_YORK, start=start, end=end) == opens
    assert next_allowed_moment(
        opens + timedelta(seconds=29), tz=NEW_YORK, start=start, end=end
    ) == opens + timedelta(seconds=29)
    assert next_allowed_moment(
        opens + timedelta(seconds=31), tz=NEW_YORK, start=start, end=end
    ) == opens + timedelta(days=1)


@pytest.mark.django_db
def test_a_dispatch_five_milliseconds_before_quiet_hours_defers_instead_of_sending(
    consenting_patient, outbox
):
    with time_machine.travel(utc(2026, 6, 10, 23, 59, 59, 995000), tick=False):  # 19:59:59.995 in New York
        nudge = services.nudge_schedule(
            patient=consenting_patient,
            kind="checkin_request",
            channel="email",
            send_at=timezone.now(),
            dedupe_key="five-ms-before",
            context={"checkin_url": "https://crm.example.com/c/x/"},
        )
        services.nudge_dispatch_due()
    nudge.refresh_from_db()
    assert outbox == []
    assert (nudge.status, nudge.send_at) == ("pending", utc(2026, 6, 11, 12))  # 08:00 EDT the next morning


@pytest.mark.django_db
def test_a_nudge_due_in_the_repeated_hour_waits_an_hour_at_most_not_a_day(consenting_patient, outbox):
    consenting_patient.quiet_hours_start, consenting_patient.quiet_hours_end = time(20), time(1, 30)
    consenting_patient.save()
    with time_machine.travel(utc(2026, 11, 1, 6, 10), tick=False):  # 01:10 EST, the second 01:10 that night
        nudge = services.nudge_schedule(
            patient=consenting_patient,
            kind="checkin_request",
            channel="email",
            send_at=timezone.now(),
            dedupe_key="repeated-hour",
            context={"checkin_url": "https://crm.example.com/c/x/"},
        )
        services.nudge_dispatch_due()
    nudge.refresh_from_db()
    assert nudge.send_at == utc(2026, 11, 1, 6, 30)  # measured before: 2 November 06:30, a whole day late


# --- Properties against a brute-force reading of the clock ----------------------------------------

ZONES = [
    "America/New_York",
    "Europe/London",
    "Europe/Dublin",  # its "summer" time is the standard one: negative DST in the data
    "Australia/Lord_Howe",  # clocks move by 30 minutes
    "America/Santiago",
    "Pacific/Chatham",
    "Asia/Kolkata",
    "UTC",
]
FIRST_YEAR, LAST_YEAR = 2024, 2032


@cache
def clock_changes(zone: str) -> tuple[datetime, ...]:
    """Every instant in the years tested at which the zone's clocks change, found hour by hour."""
    tz = ZoneInfo(zone)
    found, hour = [], utc(FIRST_YEAR, 1, 1)
    previous = hour.astimezone(tz).utcoffset()
    while hour.year <= LAST_YEAR:
        hour += timedelta(minutes=30)
        offset = hour.astimezone(tz).utcoffset()
        if offset != previous:
            found.append(hour)
            previous = offset
    return tuple(found)


def brute_force(moment: datetime, tz: ZoneInfo, start: time, end: time, margin: timedelta) -> datetime:
    """Read the clock every minute from 30 hours before ``moment``: quiet while it shows a quiet time, or
    while the last time it showed ``start`` (or jumped past it) is later than the last time it showed ``end``.
    Then take the first moment of an allowed stretch that is not within the margin of its end."""
    first = moment.replace(second=0, microsecond=0) - timedelta(hours=30)
    minutes = [first + n * MINUTE for n in range(int(timedelta(hours=80) / MINUTE))]
    last = {"start": (first - timedelta(days=9), 0), "end": (first - timedelta(days=9), 1)}
    quiet, previous = [], None
    for m in minutes:
        local = m.astimezone(tz).replace(tzinfo=None)
        if previous is not None:
            for day in sorted({previous.date(), local.date()}):
                for name, wall in (("start", start), ("end", end)):
                    mark = datetime.combine(day, wall)
                    # It shows the mark, or moved forward past it (by a minute, or a jump).
                    if local == mark or previous < mark <= local:
                        last[name] = max(last[name], (m, mark))
        night = last["start"] > last["end"]
        quiet.append(in_quiet_hours(local.time(), start, end) or night)
        previous = local
    stretches, opened = [], None
    for m, q in zip(minutes, quiet, strict=True):
        if q and opened is not None:
            stretches.append((opened, m))
            opened = None
        elif not q and opened is None:
            opened = m
    for begins, ends in stretches:
        if ends <= moment:
            continue
        keep = min(margin, (ends - begins) / 2)
        candidate = max(moment, begins)
        if candidate < ends and candidate + keep <= ends:
            return candidate
    raise AssertionError("no allowed moment in 80 hours")


whole_minutes = st.builds(time, st.integers(0, 23), st.integers(0, 59))


@st.composite
def cases(draw):
    zone = draw(st.sampled_from(ZONES))
    start = draw(whole_minutes)
    end = draw(whole_minutes.filter(lambda t: t != start))
    changes = clock_changes(zone)
    near = draw(st.sampled_from(["a clock change", "an edge of quiet hours", "anywhere"]))
    if near == "a clock change" and changes:  # where the mistakes were
        moment = draw(st.sampled_from(changes)) + draw(
            st.timedeltas(-timedelta(hours=30), timedelta(hours=30))
        )
    elif near == "an edge of quiet hours":  # where the margin matters
        day = draw(st.dates(datetime(FIRST_YEAR, 1, 2).date(), datetime(LAST_YEAR, 12, 30).date()))
        wall = datetime.combine(day, draw(st.sampled_from([start, end])))
        edge = wall.replace(tzinfo=ZoneInfo(zone), fold=draw(st.integers(0, 1))).astimezone(UTC)
        moment = edge + draw(st.timedeltas(-timedelta(minutes=5), timedelta(minutes=5)))
    else:
        moment = draw(st.datetimes(datetime(FIRST_YEAR, 1, 2), datetime(LAST_YEAR, 12, 30))).replace(
            tzinfo=UTC
        )
    return zone, start, end, moment


PROPERTY_SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY_SETTINGS
@given(cases())
def test_without_a_margin_the_answer_is_the_first_allowed_minute(case):
    zone, start, end, moment = case
    tz = ZoneInfo(zone)
    chosen = next_allowed_moment(moment, tz=tz, start=start, end=end, margin=NO_MARGIN)
    assert chosen == brute_force(moment, tz, start, end, NO_MARGIN)
    assert chosen >= moment
    assert not in_quiet_hours(chosen.astimezone(tz).time(), start, end)


@PROPERTY_SETTINGS
@given(cases())
def test_with_the_margin_the_answer_is_the_first_minute_clear_of_quiet_hours(case):
    zone, start, end, moment = case
    tz = ZoneInfo(zone)
    chosen = next_allowed_moment(moment, tz=tz, start=start, end=end)
    assert chosen == brute_force(moment, tz, start, end, START_MARGIN)
    assert next_allowed_moment(chosen, tz=tz, start=start, end=end) == chosen  # asked again, the same answer


@PROPERTY_SETTINGS
@given(cases())
def test_over_simulated_weeks_no_send_lands_in_quiet_hours(case):
    """A dispatcher every few minutes for a week: whatever it is allowed to start is clear of quiet hours
    for at least the next half minute (the whole margin unless its allowed stretch is shorter than twice that),
    read off the patient's clock."""
    zone, start, end, moment = case
    tz = ZoneInfo(zone)
    for step in range(0, 7 * 24 * 60, 47):
        now = moment + timedelta(minutes=step)
        if next_allowed_moment(now, tz=tz, start=start, end=end) != now:
            continue
        for seconds in (0, 1, 29):
            wall = (now + timedelta(seconds=seconds)).astimezone(tz).time()
            assert not in_quiet_hours(wall, start, end), (now, seconds)
