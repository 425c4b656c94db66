from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from compliance.models import Alert
from journeys.models import Inquiry, Visit
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


def add_day(practitioner, n):
    now = timezone.now()
    for i in range(n):
        patient = PatientFactory()
        Visit.objects.create(
            patient=patient, practitioner=practitioner, kind="follow_up", starts_at=now + timedelta(minutes=i)
        )
        Alert.objects.create(
            patient=patient, reason="low_adherence", detail=f"{50 + i}% over the last two check-ins"
        )
        Inquiry.objects.create(patient=patient, first_name=patient.first_name, last_name=patient.last_name)


def test_today_shows_alerts_visits_inquiries_and_patients_without_a_lead(client_for, staff, practitioner):
    add_day(practitioner, 2)
    response = client_for(staff).get("/")
    today, body = response.context["today"], response.content.decode()
    assert (today.alert_count, len(today.visits), today.inquiry_count, today.without_lead_count) == (
        2,
        2,
        2,
        2,
    )
    assert "patient alerts open" in body and "new inquiries this week" in body
    assert "50% over the last two check-ins" in body
    assert body.count('href="/visits/') == 2
    assert "2 patients without a lead practitioner" in body


def test_today_shows_kind_empty_states(client_for, staff):
    body = client_for(staff).get("/").content.decode()
    assert "No one is waiting on you" in body
    assert "No visits on the calendar" in body
    assert "No new inquiries this week" in body


def test_today_runs_the_same_number_of_queries_for_2_and_20_of_everything(client_for, staff, practitioner):
    client = client_for(staff)

    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/").status_code == 200
        return len(captured)

    add_day(practitioner, 2)
    few = queries()
    add_day(practitioner, 18)
    assert queries() == few
