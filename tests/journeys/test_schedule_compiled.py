"""The schedule's reads compiled once per thread and number of practitioners (``journeys.selectors.schedule``):
the same rows as the ORM reads for each page of practitioners and window, by the same SQL; any other list of
practitioners read by the ORM as before; the practitioners' list likewise."""

import re
from datetime import UTC, date, datetime, time, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from journeys.models import TimeOff, Visit, WorkingHours
from journeys.selectors import schedule
from journeys.selectors.schedule import (
    PRACTITIONER_FIELDS,
    PRACTITIONERS_SHOWN,
    at,
    day_stretches,
    schedule_practitioner_rows,
    schedule_practitioners,
    week_of,
)
from tests.factories import PatientFactory, UserFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 4, 13, 12, 0, tzinfo=UTC)
TUESDAY = date(2026, 4, 14)
READS = [schedule._HOURS, schedule._TIME_OFF, schedule._BOOKED, schedule._SHOWN]


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


def clinic(count: int) -> list:
    people = [
        UserFactory(role="practitioner", display_name=f"Dr. {n:02d} <b>&'Quinn\"") for n in range(count)
    ]
    for n, person in enumerate(people):
        for weekday in range(5):
            WorkingHours.objects.create(practitioner=person, weekday=weekday, starts=time(9), ends=time(12))
            WorkingHours.objects.create(practitioner=person, weekday=weekday, starts=time(12), ends=time(17))
        TimeOff.objects.create(
            practitioner=person,
            starts_at=at(TUESDAY, time(13)),
            ends_at=at(TUESDAY + timedelta(days=n % 3), time(15)),
            reason="<script>alert('x')</script> & co",
        )
        for day in week_of(TUESDAY):
            for hour in (9, 10 + n % 4, 16):
                Visit.objects.create(
                    patient=PatientFactory(time_zone="Europe/London" if hour == 9 else "America/New_York"),
                    practitioner=person,
                    kind="follow_up",
                    status="cancelled" if hour == 16 else "scheduled",
                    starts_at=at(day, time(hour)),
                )
    return people


def rows_of(read, ids, start, end):
    with CaptureQueriesContext(connection) as captured:
        rows = schedule._read(read, ids, start, end)
    return rows, [query["sql"] for query in captured.captured_queries]


def comparable(rows):
    return [
        row if isinstance(row, tuple) else (type(row), row.pk, vars(row) | {"_state": None}) for row in rows
    ]


def test_each_read_is_the_orms_for_each_page_of_practitioners_and_window():
    people = clinic(PRACTITIONERS_SHOWN)
    ids = [person.pk for person in people]
    windows = [[TUESDAY], week_of(TUESDAY), [TUESDAY + timedelta(days=30)]]
    schedule._compiled_reads().clear()  # this thread's, as a new one starts
    for chosen in ([ids[0]], ids[2:5], list(reversed(ids)), ids) * 2:  # the second round compiled already
        for days in windows:
            start, end = at(days[0], time.min), at(days[-1] + timedelta(days=1), time.min)
            for read in READS:
                ours, our_sql = rows_of(read, chosen, start, end)
                with CaptureQueriesContext(connection) as orms:
                    expected = list(read.build(chosen, start, end))
                assert comparable(ours) == comparable(expected), read.build.__name__
                assert our_sql == [query["sql"] for query in orms.captured_queries]
    assert {(read, count) for read, count in schedule._compiled_reads()} == {
        (read, count) for read in READS for count in (1, 3, PRACTITIONERS_SHOWN)
    }


def test_the_working_hours_are_read_in_the_columns_of_the_model():
    people = clinic(2)
    ids = [person.pk for person in people]
    start, end = at(TUESDAY, time.min), at(TUESDAY + timedelta(days=1), time.min)
    rows, (sql,) = rows_of(schedule._HOURS, ids, start, end)
    instances = WorkingHours.objects.filter(practitioner_id__in=ids).order_by()
    assert sorted(rows) == sorted(
        tuple(vars(h)[f.attname] for f in WorkingHours._meta.concrete_fields) for h in instances
    )
    assert re.sub(r' AS "\w+"', "", sql) == str(instances.query)  # the same, its columns named as they are


def test_other_lists_of_practitioners_are_read_by_the_orm():
    people = clinic(PRACTITIONERS_SHOWN + 1)
    ids = [person.pk for person in people]
    start, end = at(TUESDAY, time.min), at(TUESDAY + timedelta(days=7), time.min)
    schedule._compiled_reads().clear()
    for chosen in (ids, [ids[0], ids[0]], []):
        for read in READS:
            assert comparable(schedule._read(read, chosen, start, end)) == comparable(
                list(read.build(chosen, start, end))
            )
    assert not schedule._compiled_reads()


def test_the_stretches_of_a_weekday_are_day_stretches():
    person = UserFactory(role="practitioner")
    shapes = [[], [(9, 12)], [(13, 17), (9, 12)], [(9, 12), (12, 13), (11, 14)], [(8, 9), (10, 11), (8, 10)]]
    for weekday, shape in enumerate(shapes):
        for starts, ends in shape:
            WorkingHours.objects.create(
                practitioner=person, weekday=weekday, starts=time(starts), ends=time(ends)
            )
    hours = list(WorkingHours.objects.all())
    zone = schedule.clinic_zone()
    for day in week_of(TUESDAY) + week_of(date(2026, 11, 2)) + week_of(date(2026, 3, 9)):  # DST weeks too
        ours = [(h.starts, h.ends) for h in hours if h.weekday == day.weekday()]
        assert schedule._stretches(ours, day, zone) == day_stretches(hours, day)


def test_the_practitioners_list_is_the_orms_by_the_same_sql():
    clinic(3)
    UserFactory(role="admin", display_name="")
    UserFactory(role="staff")
    for _ in range(2):
        with CaptureQueriesContext(connection) as ours:
            rows = schedule_practitioner_rows()
        with CaptureQueriesContext(connection) as orms:
            expected = list(schedule_practitioners().values_list(*PRACTITIONER_FIELDS))
        assert rows == expected and all(type(row) is tuple for row in rows)
        assert [q["sql"] for q in ours.captured_queries] == [q["sql"] for q in orms.captured_queries]
