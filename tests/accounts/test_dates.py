"""``accounts.dates`` writes what Django's ``date`` filter writes, in every time zone and language."""

import zoneinfo
from datetime import UTC, date, datetime, timedelta

import pytest
from django.template import Context, Template
from django.utils import timezone, translation

from accounts.dates import (
    day_month,
    day_month_year,
    day_month_year_time,
    iso,
    weekday_day_month_time,
    weekday_day_month_year_time,
)

FILTERS = Template('{{ v|date:"j M" }}|{{ v|date:"j M Y" }}|{{ v|date:"j M Y, H:i" }}|{{ v|date:"c" }}')
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
            ours = f"{day_month(moment)}|{day_month_year(moment)}|{day_month_year_time(moment)}|{iso(moment)}"
            assert ours == FILTERS.render(Context({"v": moment}))


@pytest.mark.parametrize("language", ["en-us", "de"])
def test_days_are_written_as_the_date_filter_writes_them(language):
    with translation.override(language):
        for n in range(0, 366, 7):
            day = date(2026, 1, 1) + timedelta(days=n)
            assert f"{day_month(day)}|{day_month_year(day)}" == DAY_FILTERS.render(Context({"v": day}))


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
