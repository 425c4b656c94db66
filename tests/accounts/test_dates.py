"""``accounts.dates`` writes what Django's ``date`` and ``timesince`` filters write, in every time zone and
language."""

import random
import zoneinfo
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.template import Context, Template
from django.utils import timezone, translation
from django.utils.timesince import timesince

from accounts.dates import (
    day_month,
    day_month_time,
    day_month_year,
    day_month_year_time,
    iso,
    time_since,
    weekday_day_month_time,
    weekday_day_month_year_time,
)

FILTERS = Template(
    '{{ v|date:"j M" }}|{{ v|date:"j M Y" }}|{{ v|date:"j M, H:i" }}|{{ v|date:"j M Y, H:i" }}|{{ v|date:"c" }}'
)
DAY_FILTERS = Template('{{ v|date:"j M" }}|{{ v|date:"j M Y" }}')

MOMENTS = [
    datetime(2026, 1, 1, 0, 0, tzinfo=UTC),
    datetime(2026, 3, 8, 6, 59, 59, tzinfo=UTC),  # the clinic's spring-forward night
    datetime(2026, 11, 1, 5, 30, 0, 1234, tzinfo=UTC),
    datetime(2026, 12, 31, 23, 59, tzinfo=UTC),
    *(datetime(2026, month, 15, 12, 5, tzinfo=UTC) for month in range(1, 13)),
]


@pytest.mark.parametrize("zone", ["America/New_York", "UTC", "Asia/Kolkata", "Pacific/Auckland"])
@pytest.mark.parametrize("language", ["en-us", "de", "fr"])
def test_moments_are_written_as_the_date_filter_writes_them(zone, language):
    with timezone.override(zone), translation.override(language):
        for moment in MOMENTS:
            written = (day_month, day_month_year, day_month_time, day_month_year_time, iso)
            ours = "|".join(write(moment) for write in written)
            assert ours == FILTERS.render(Context({"v": moment}))


@pytest.mark.parametrize("language", ["en-us", "de"])
def test_days_are_written_as_the_date_filter_writes_them(language):
    with translation.override(language):
        for n in range(0, 366, 7):
            day = date(2026, 1, 1) + timedelta(days=n)
            assert f"{day_month(day)}|{day_month_year(day)}" == DAY_FILTERS.render(Context({"v": day}))


# Moments where the calendar arithmetic turns: month ends, a leap day, the clinic's DST nights, a year's end.
SINCE_FROM = [
    datetime(2024, 1, 29, 10, tzinfo=UTC),
    datetime(2024, 1, 31, 23, 59, 59, 999_999, tzinfo=UTC),
    datetime(2024, 2, 29, 12, tzinfo=UTC),
    datetime(2025, 3, 31, 8, 30, 15, 500_000, tzinfo=UTC),
    datetime(2025, 12, 31, 23, 0, tzinfo=UTC),
    datetime(2026, 3, 7, 12, tzinfo=ZoneInfo("America/New_York")),
    datetime(2026, 10, 31, 1, 30, tzinfo=ZoneInfo("America/New_York")),
]
SINCE_SPANS = [
    timedelta(0),
    timedelta(seconds=-1),
    timedelta(days=-3),
    timedelta(seconds=59, microseconds=999_999),
    timedelta(minutes=1),
    timedelta(minutes=2),
    timedelta(hours=1),
    timedelta(hours=1, minutes=1),
    timedelta(hours=2, minutes=59, seconds=59),
    timedelta(days=1),
    timedelta(days=1, hours=1),
    timedelta(days=2, hours=23),
    timedelta(weeks=1),
    timedelta(weeks=1, days=1),
    timedelta(weeks=2, days=6, hours=23, minutes=59),
    timedelta(days=28),
    timedelta(days=29),
    timedelta(days=30),
    timedelta(days=31),
    timedelta(days=32),
    timedelta(days=59),
    timedelta(days=365),
    timedelta(days=366),
    timedelta(days=366 + 31),
    timedelta(days=2 * 365 + 45),
    timedelta(days=11 * 365),
]


@pytest.mark.parametrize("language", ["en-us", "de", "fr", "pl"])
def test_time_since_writes_what_timesince_writes(language):
    """Singular and plural (and Polish's few/many), 0 minutes, the future, month ends and leap days, another
    time zone for ``now`` than for the moment, and many random spans with their microseconds."""
    zones = [UTC, ZoneInfo("America/New_York"), ZoneInfo("Pacific/Auckland")]
    pairs = [(start, start + span) for start in SINCE_FROM for span in SINCE_SPANS]
    # A month on, the pivot keeps the moment's seconds but not its microseconds: a week and a moment, exactly.
    pairs.append(
        (
            datetime(2026, 1, 10, 10, 0, 0, 900_000, tzinfo=UTC),
            datetime(2026, 2, 17, 10, 0, 0, 100_000, tzinfo=UTC),
        )
    )
    pairs += [
        (start, (start + span).astimezone(zone))
        for start in SINCE_FROM[:3]
        for span in SINCE_SPANS
        for zone in zones
    ]
    chance = random.Random(31)
    for _ in range(3000):
        start = datetime(2020, 1, 1, tzinfo=UTC) + timedelta(
            seconds=chance.randrange(7 * 365 * 86400), microseconds=chance.randrange(10**6)
        )
        span = chance.choice([60, 3600, 86400, 8 * 86400, 40 * 86400, 400 * 86400, 1500 * 86400])
        end = start + timedelta(
            seconds=chance.randrange(-span // 10, span), microseconds=chance.randrange(10**6)
        )
        pairs.append((start.astimezone(chance.choice(zones)), end.astimezone(chance.choice(zones))))
    with translation.override(language):
        for start, end in pairs:
            assert time_since(start, end) == timesince(start, end), (start, end)
            assert time_since(start, end, language=translation.get_language()) == timesince(start, end)
    if language == "en-us":
        assert time_since(SINCE_FROM[0], SINCE_FROM[0]) == "0\xa0minutes"
        assert (
            time_since(SINCE_FROM[0], SINCE_FROM[0] + timedelta(days=22, hours=5)) == "3\xa0weeks, 1\xa0day"
        )


def test_time_since_of_a_date_or_a_naive_moment_is_timesince_own():
    assert time_since(date(2026, 1, 1), datetime(2026, 1, 9)) == timesince(
        date(2026, 1, 1), datetime(2026, 1, 9)
    )
    naive = datetime(2026, 1, 1, 12)
    assert time_since(naive, naive + timedelta(hours=5)) == "5\xa0hours"


WEEKDAY_FILTERS = Template(
    '{% load tz %}{{ v|date:"D j M Y, H:i" }}|{{ v|timezone:"Asia/Tokyo"|date:"D j M, H:i" }}'
)


@pytest.mark.parametrize("zone", ["America/New_York", "Pacific/Auckland"])
@pytest.mark.parametrize("language", ["en-us", "de"])
def test_a_visits_weekday_and_time_are_written_as_the_filters_write_them(zone, language):
    tokyo = zoneinfo.ZoneInfo("Asia/Tokyo")
    with timezone.override(zone), translation.override(language):
        for moment in [*MOMENTS, *(MOMENTS[0] + timedelta(days=n, hours=n) for n in range(7))]:
            ours = f"{weekday_day_month_year_time(moment)}|{weekday_day_month_time(moment.astimezone(tokyo))}"
            assert ours == WEEKDAY_FILTERS.render(Context({"v": moment}))


def test_a_naive_moment_is_written_as_it_is():
    with timezone.override("Asia/Kolkata"):
        naive = datetime(2026, 3, 8, 23, 59)
        assert f"{day_month_year_time(naive)}|{weekday_day_month_year_time(naive)}" == Template(
            '{{ v|date:"j M Y, H:i" }}|{{ v|date:"D j M Y, H:i" }}'
        ).render(Context({"v": naive}))
