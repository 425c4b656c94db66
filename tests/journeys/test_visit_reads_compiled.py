"""The Visits tab's reads compiled once per thread (``accounts.queries.Compiled``): the visits upcoming and
recent with their notes counted, and the latest intake's state, the ORM's rows by the ORM's SQL for patients
with and without a history, nothing of one patient left for the next."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from journeys.intake_selectors import _intake_latest_query, intake_latest
from journeys.models import Questionnaire, QuestionnaireResponse, Visit, VisitNote
from journeys.selectors.visits import _patient_visits_queries, patient_visits
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 29, 17, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen(time_machine):
    time_machine.move_to(NOW, tick=False)


@pytest.fixture
def patients(practitioner):
    busy, other, empty = PatientFactory(), PatientFactory(), PatientFactory()
    for n, (status, days) in enumerate(
        [
            ("scheduled", 2),
            ("scheduled", 9),
            ("completed", -3),
            ("cancelled", 4),
            ("scheduled", -20),
            ("no_show", -8),
        ]
        * 3
    ):
        visit = Visit.objects.create(
            patient=busy if n % 4 else other, practitioner=practitioner, kind="follow_up", status=status,
            starts_at=NOW + timedelta(days=days, hours=n),
        )  # fmt: skip
        for m in range(n % 3):
            VisitNote.objects.create(
                visit=visit, author=practitioner, title=f"Note {m}", signed_at=NOW if m % 2 else None
            )
    questionnaire = Questionnaire.objects.first()
    if questionnaire is not None:
        for days, status in ((10, "completed"), (3, "sent")):  # one open a patient
            QuestionnaireResponse.objects.create(
                patient=busy, questionnaire=questionnaire, sent_at=NOW - timedelta(days=days), closes_at=NOW,
                status=status,
            )  # fmt: skip
    return [busy, other, empty]


def shown(visits):
    return [(v.pk, v.practitioner.pk, v.note_count, v.unsigned_count) for v in visits]


def test_the_visits_are_the_orms_for_every_patient(patients):
    for patient in patients * 2:  # the second round from the SQL compiled in the first
        ours = patient_visits(patient)
        upcoming, recent = _patient_visits_queries(patient.pk, timezone.now())
        assert shown(ours["upcoming"]) == shown(upcoming) and shown(ours["recent"]) == shown(recent)
    assert patient_visits(patients[0])["upcoming"] and patient_visits(patients[0])["recent"]
    assert patient_visits(patients[2]) == {"upcoming": [], "recent": []}


def test_the_latest_intake_is_the_orms_for_every_patient(patients):
    for patient in patients * 2:
        ours, orms = intake_latest(patient), _intake_latest_query(patient.pk).first()
        assert ours == orms
        if ours is not None:
            assert ours.questionnaire.title == orms.questionnaire.title
            assert ours.get_deferred_fields() == orms.get_deferred_fields()
    assert intake_latest(patients[0]).sent_at == NOW - timedelta(days=3)


def test_the_reads_run_the_sql_the_orm_writes(patients):
    patient = patients[0]
    patient_visits(patient), intake_latest(patient)  # compiled
    with CaptureQueriesContext(connection) as ours:
        patient_visits(patient), intake_latest(patient)
    upcoming, recent = _patient_visits_queries(patient.pk, timezone.now())
    with CaptureQueriesContext(connection) as orms:
        list(upcoming), list(recent), _intake_latest_query(patient.pk).first()
    assert [q["sql"] for q in ours.captured_queries] == [q["sql"] for q in orms.captured_queries]
