"""Then and now's four reads compiled once per thread (``accounts.queries.Compiled``, the two weeks' ids one
``AnyOf`` array): the ORM's rows by the ORM's SQL for each patient, and the panel as before."""

from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from compliance import selectors
from compliance.models import CheckInAnswer, ComplianceLog
from journeys.models import Blueprint, BlueprintItem, CheckIn, Journey, Stage
from tests.factories import PatientFactory, UserFactory

pytestmark = pytest.mark.django_db


def weeks(journey, item, rows):
    for due, status, energy, kind in rows:
        checkin = CheckIn.objects.create(
            journey=journey, kind=kind, due_on=due, closes_at=timezone.now(), status=CheckIn.Status.ANSWERED
        )
        answer = CheckInAnswer.objects.create(checkin=checkin, patient=journey.patient, energy=energy)
        if status:
            ComplianceLog.objects.create(answer=answer, checkin=checkin, item=item, status=status)


@pytest.fixture
def patients():
    """One graduated with three weeks answered and two follow-ups, one with one week, one with none."""
    author = UserFactory(role="practitioner")
    found = []
    for rows in (
        [
            (date(2026, 1, 5), "missed", 3, CheckIn.Kind.PROGRAM),
            (date(2026, 2, 2), "partial", 5, CheckIn.Kind.PROGRAM),
            (date(2026, 3, 2), "done", 8, CheckIn.Kind.PROGRAM),
            (date(2026, 6, 1), "", 9, CheckIn.Kind.FOLLOW_UP),
            (date(2026, 9, 7), "", None, CheckIn.Kind.FOLLOW_UP),
        ],
        [(date(2026, 1, 5), "done", 4, CheckIn.Kind.PROGRAM)],
        [],
    ):
        journey = Journey.objects.create(patient=PatientFactory(), stage=Stage.GRADUATED)
        blueprint = Blueprint.objects.create(
            journey=journey, version=1, status="published", created_by=author, published_at=timezone.now()
        )
        item = BlueprintItem.objects.create(blueprint=blueprint, kind="diet", title="Greens", position=0)
        weeks(journey, item, rows)
        found.append(journey.patient)
    return found


FIELDS = ("checkin_id", "checkin__due_on", "energy", "sleep", "mood", "digestion")


def first_and_last(patient_id: int) -> list[dict]:
    """The first and the last week as the two reads before them wrote them."""
    answered = CheckInAnswer.objects.filter(patient_id=patient_id, checkin__kind=CheckIn.Kind.PROGRAM)
    first = answered.order_by("checkin__due_on", "pk").values(*FIELDS).first()
    last = answered.order_by("-checkin__due_on", "-pk").values(*FIELDS).first()
    return [row for row in (first, last) if row is not None]


def test_each_read_is_the_orms_for_each_patient(patients):
    graduated = patients[0]
    ends = selectors._then_and_now_reads()["ends"].rows(graduated.pk)
    builds = {
        "ends": (selectors._ends_query, "id"),
        "follow-ups": (selectors._follow_ups_query, "id"),
        "statuses": (selectors._week_statuses_query, "weeks"),
    }
    for patient in patients * 2:  # the second round from the SQL compiled in the first
        for name, (build, by) in builds.items():
            value = [ends[0]["checkin_id"], ends[-1]["checkin_id"]] if by == "weeks" else patient.pk
            with CaptureQueriesContext(connection) as ours:
                got = selectors._then_and_now_reads()[name].rows(value)
            with CaptureQueriesContext(connection) as orms:
                expected = list(build(value))
            assert got == expected, name
            assert [q["sql"] for q in ours.captured_queries] == [q["sql"] for q in orms.captured_queries]
        found = selectors._then_and_now_reads()["ends"].rows(patient.pk)
        expected = first_and_last(patient.pk)
        assert [found[0], found[-1]] == expected if found else expected == []
    assert len(ends) == 2


def test_then_and_now_is_the_first_and_last_weeks_and_the_follow_ups(patients):
    graduated, one_week, none = patients
    with CaptureQueriesContext(connection) as queries:
        shown = selectors.then_and_now(patient_id=graduated.pk)
    assert len(queries) == 3
    assert shown is not None
    assert (shown.then.due_on, shown.then.score, shown.now.due_on, shown.now.score) == (
        date(2026, 1, 5),
        0.0,
        date(2026, 3, 2),
        100.0,
    )
    assert dict(shown.then.ratings)["Energy"] == 3 and dict(shown.now.ratings)["Energy"] == 8
    assert [(due, status, dict(r)["Energy"]) for due, status, r in shown.follow_ups] == [
        (date(2026, 6, 1), "Answered", 9),
        (date(2026, 9, 7), "Answered", None),
    ]
    assert selectors.then_and_now(patient_id=one_week.pk) is None
    assert selectors.then_and_now(patient_id=none.pk) is None
