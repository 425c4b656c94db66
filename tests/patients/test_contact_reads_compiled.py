"""A patient's consent in force and care team, read by SQL compiled once per thread: the ORM's rows by the
ORM's SQL, for several patients in turn (the marker's id put in each time)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from patients.models import CareTeamMember, ConsentEvent
from patients.selectors import care_team, patient_consent
from patients.services import consent_record
from tests.factories import CareTeamMemberFactory, PatientFactory, UserFactory

pytestmark = pytest.mark.django_db

HOSTILE = "<b>&\"'"


def test_the_consent_in_force_is_the_latest_row_per_channel_for_each_patient(staff):
    patients = [PatientFactory(email="a@example.com", phone="+15551234567") for _ in range(3)]
    consent_record(patient=patients[0], channel="email", granted=True, actor=staff, via=HOSTILE)
    consent_record(patient=patients[0], channel="email", granted=False, actor=staff, via="unsubscribe")
    consent_record(patient=patients[1], channel="sms", granted=True, actor=staff, via="form")
    for patient in patients * 2:  # the second round from the SQL compiled in the first
        states = patient_consent(patient)
        for channel, state in states.items():
            latest = (
                ConsentEvent.objects.filter(patient=patient, channel=channel).order_by("-at", "-id").first()
            )
            assert (state.granted, state.via, state.at) == (
                (latest.granted, latest.via, latest.at) if latest else (False, "", None)
            )
    assert not patient_consent(patients[0])["email"].granted and patient_consent(patients[1])["sms"].granted


def test_the_consent_is_read_by_the_sql_the_orm_writes():
    patient = PatientFactory()
    patient_consent(patient)
    with CaptureQueriesContext(connection) as ours:
        patient_consent(patient)
    with CaptureQueriesContext(connection) as orms:
        for channel in ("email", "sms"):
            ConsentEvent.objects.filter(patient=patient, channel=channel).order_by("-at", "-id").first()
    assert [q["sql"] for q in ours] == [q["sql"] for q in orms]


def test_the_care_team_is_the_orms_members_for_each_patient(django_assert_num_queries):
    patients = [PatientFactory() for _ in range(3)]
    CareTeamMemberFactory(patient=patients[0], user=UserFactory(display_name=HOSTILE), role="lead")
    CareTeamMemberFactory(patient=patients[0], user=None, role="specialist", external_name=HOSTILE)
    CareTeamMemberFactory(patient=patients[1], user=UserFactory(), role="lead")
    for patient in patients * 2:
        current, former = care_team(patient)
        expected = list(patient.care_team.select_related("user", "added_by").order_by("started_at", "id"))
        assert sorted(m.pk for m in current + former) == sorted(m.pk for m in expected)
        with django_assert_num_queries(0):
            assert all(m.patient is patient and (m.user is None or m.user.pk) for m in current + former)
    assert [m.role for m in care_team(patients[0])[0]] == ["lead", "specialist"]
    assert care_team(patients[2]) == ([], [])


def test_the_care_team_is_read_by_the_sql_the_orm_writes():
    patient = PatientFactory()
    care_team(patient)
    with CaptureQueriesContext(connection) as ours:
        care_team(patient)
    with CaptureQueriesContext(connection) as orms:
        list(patient.care_team.select_related("user", "added_by").order_by("started_at", "id"))
    assert [q["sql"] for q in ours] == [q["sql"] for q in orms]
    assert CareTeamMember.objects.count() == 0
