"""Today for each role: a practitioner's own day (visits, notes to sign, their patients' alerts and answers),
the front desk's whole practice (everyone's visits, inquiries waiting, messages to review), the toggle
between them, the next visits on a day with none, and a fixed number of queries for 5 or 50 rows."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from compliance.models import Alert
from journeys.models import CheckIn, Inquiry, Journey, Stage, Visit, VisitNote
from nudges.models import Nudge
from patients.models import CareTeamMember
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 4, 14, 13, 0, tzinfo=UTC)  # Tuesday 14 April, 09:00 in the clinic (New York, EDT)


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


def add_day(practitioner, n, *, on_team=True):
    """``n`` patients of ``practitioner`` with a visit today, an open alert, an unsigned note, an answered
    check-in since yesterday, an inquiry still waiting, and a message to review."""
    for i in range(n):
        patient = PatientFactory()
        if on_team:
            CareTeamMember.objects.create(patient=patient, user=practitioner, role="lead")
        visit = Visit.objects.create(
            patient=patient, practitioner=practitioner, kind="follow_up", starts_at=NOW + timedelta(minutes=i)
        )
        VisitNote.objects.create(visit=visit, author=practitioner, title=f"Follow-up note {i}", body="…")
        Alert.objects.create(
            patient=patient, reason="low_adherence", detail=f"{50 + i}% over the last two check-ins"
        )
        journey = Journey.objects.create(patient=patient, stage=Stage.INQUIRY)
        Inquiry.objects.create(patient=patient, first_name=patient.first_name, last_name=patient.last_name)
        CheckIn.objects.create(
            journey=journey,
            due_on=NOW.date(),
            closes_at=NOW + timedelta(days=2),
            status=CheckIn.Status.ANSWERED,
            answered_at=NOW - timedelta(hours=20, minutes=i),
        )
        Nudge.objects.create(
            patient=patient,
            kind="checkin_request",
            channel="email",
            send_at=NOW - timedelta(hours=1),
            status=Nudge.Status.FAILED,
            dedupe_key=f"today:{patient.pk}",
        )


def test_a_practitioner_sees_their_own_day(client_for, practitioner, other_practitioner):
    add_day(practitioner, 2)
    add_day(other_practitioner, 3)
    response = client_for(practitioner).get("/")
    today, body = response.context["today"], response.content.decode()
    assert today.scope == "mine"
    assert {v.practitioner_id for v in today.visits} == {practitioner.pk} and today.visit_count == 2
    assert today.notes_to_sign_count == 2 and "Follow-up note 0" in body
    assert today.alert_count == 2 and "50% over the last two check-ins" in body
    assert today.answered_count == 2 and "Check-ins my patients answered since yesterday" in body
    assert "My visits today" in body and "notes to sign" in body
    assert "Inquiries waiting" not in body  # the front desk's work


def test_a_practitioners_patients_are_those_on_whose_care_team_they_are(client_for, practitioner):
    add_day(practitioner, 2, on_team=False)
    today = client_for(practitioner).get("/").context["today"]
    assert (today.alert_count, today.answered_count) == (0, 0)
    assert today.visit_count == 2  # their visits are theirs whoever leads the patient


def test_staff_see_the_whole_practice(client_for, staff, practitioner, other_practitioner):
    add_day(practitioner, 2)
    add_day(other_practitioner, 1)
    response = client_for(staff).get("/")
    today, body = response.context["today"], response.content.decode()
    assert today.scope == "practice" and not today.practises
    assert (today.visit_count, today.alert_count, today.inquiry_count, today.to_review) == (3, 3, 3, 3)
    assert today.notes_to_sign == [] and today.answered == []
    assert "Inquiries waiting for a first call" in body and "waiting" in body
    assert "3 messages to review" in body and "patient alerts open" in body
    assert "My day" not in body  # nothing of their own to toggle to
    assert "Follow-up note" not in body


def test_a_practitioner_can_switch_to_the_whole_practice_and_back(
    client_for, practitioner, other_practitioner
):
    add_day(practitioner, 1)
    add_day(other_practitioner, 2)
    client = client_for(practitioner)
    practice = client.get("/?scope=practice")
    assert practice.context["today"].visit_count == 3
    assert practice.context["today"].notes_to_sign_count == 1  # still theirs to sign
    body = practice.content.decode()
    assert 'href="?scope=mine">My day</a>' in body
    assert client.get("/?scope=mine").context["today"].visit_count == 1
    assert client.get("/?scope=nonsense").context["today"].scope == "mine"


def test_an_inquiry_with_a_call_booked_says_so(client_for, staff, practitioner):
    patient = PatientFactory()
    Journey.objects.create(patient=patient, stage=Stage.INQUIRY)
    Visit.objects.create(
        patient=patient, practitioner=practitioner, kind="discovery", starts_at=NOW + timedelta(days=2)
    )
    assert "Call booked" in client_for(staff).get("/").content.decode()


def test_with_no_visit_today_today_shows_the_next_ones(client_for, staff, practitioner):
    patient = PatientFactory(first_name="Nina", last_name="Park")
    Visit.objects.create(
        patient=patient, practitioner=practitioner, kind="intake", starts_at=NOW + timedelta(days=3)
    )
    body = client_for(staff).get("/").content.decode()
    assert "No visits on the calendar" not in body
    assert "No visits today. Next on the calendar:" in body
    assert "Fri 17 Apr, 09:00" in body and "Nina Park" in body
    mine = client_for(practitioner).get("/").content.decode()
    assert "Nina Park" in mine


def test_with_nothing_booked_ahead_today_offers_the_schedule(client_for, staff):
    body = client_for(staff).get("/").content.decode()
    assert "No visits on the calendar" in body and 'href="/schedule/"' in body
    assert "No one is waiting on you" in body
    assert "No inquiry is waiting" in body


def test_today_audits_every_patient_it_names(client_for, practitioner):
    from accounts.models import AccessEvent

    add_day(practitioner, 2)
    client_for(practitioner).get("/")
    event = AccessEvent.objects.filter(object_repr="today").latest("seq")
    assert set(event.patient_ids) == set(Visit.objects.values_list("patient_id", flat=True))


@pytest.mark.parametrize(
    ("role", "query"), [("staff", ""), ("practitioner", ""), ("practitioner", "?scope=practice")]
)
def test_today_runs_the_same_number_of_queries_for_5_and_50_of_everything(request, client_for, role, query):
    practitioner = request.getfixturevalue("practitioner")
    client = client_for(request.getfixturevalue(role))

    def queries():
        with CaptureQueriesContext(connection) as captured:
            response = client.get("/" + query)
        assert response.status_code == 200
        return len(captured), response.context["today"]

    add_day(practitioner, 5)
    few, today = queries()
    add_day(practitioner, 45)
    many, today = queries()
    assert many == few
    assert today.visit_count == 50 and len(today.visits) == 50
    assert len(today.alerts) == 10 and today.alert_count == 50
    # session, user, the page's lists and capped counts, the audit row (chain + INSERT, and its lock on
    # PostgreSQL), the navigation's alert count
    budget = {"staff": 18, "practitioner": 14, "practitioner?scope=practice": 20}[role + query]
    assert few <= budget + (connection.vendor == "postgresql")


def test_the_attention_queue_shows_one_row_per_patient_with_every_reason(client_for, staff):
    patient = PatientFactory(first_name="Rhea", last_name="Dunn")
    Alert.objects.create(
        patient=patient,
        reason="missed_checkins",
        detail="2 check-ins missed in a row",
        reasons=[
            {"reason": "missed_checkins", "detail": "2 check-ins missed in a row"},
            {"reason": "low_adherence", "detail": "below 50% over the last two answers"},
        ],
    )
    client = client_for(staff)
    today = client.get("/").content.decode()
    queue = today[today.index('id="open-alerts"') :].split("</ul>")[0]
    alerts = client.get("/alerts/").content.decode()
    rows = alerts[alerts.index('id="alert-list"') :].split("</table>")[0]
    for page in (queue, rows):
        assert page.count("Rhea Dunn") == 1
        assert "Missed check-ins" in page and "Low adherence" in page
        assert "below 50% over the last two answers" in page


# Patients without a lead: the flag the lead services keep, read by its index and checked on the care team


def test_the_lead_services_mark_the_patient_as_having_a_lead(practitioner, other_practitioner, staff):
    from patients.models import Patient
    from patients.services import care_team_set_lead, patient_create

    data = {"first_name": "Ada", "last_name": "Lind", "email": "ada@example.com"}
    with_lead = patient_create(actor=staff, data=data, lead=practitioner)
    waiting = patient_create(actor=staff, data=data | {"email": "bea@example.com", "first_name": "Bea"})
    assert Patient.objects.get(pk=with_lead.pk).has_lead is True
    assert Patient.objects.get(pk=waiting.pk).has_lead is False

    care_team_set_lead(patient=waiting, user=other_practitioner, actor=staff)
    care_team_set_lead(patient=with_lead, user=other_practitioner, actor=staff)  # a change keeps the flag
    assert set(Patient.objects.filter(has_lead=True).values_list("pk", flat=True)) == {
        with_lead.pk,
        waiting.pk,
    }


def test_the_list_without_a_lead_goes_by_the_care_team_whatever_the_flag_says(staff, practitioner):
    from dashboard.selectors import today_for

    waiting = PatientFactory(first_name="Waiting")
    led_elsewhere = PatientFactory(first_name="Led")  # a lead row written without the service: flag unset
    CareTeamMember.objects.create(patient=led_elsewhere, user=practitioner, role="lead")
    archived = PatientFactory(first_name="Gone", archived=True)

    shown = today_for(staff)

    assert [p.pk for p in shown.without_lead] == [waiting.pk]
    assert shown.without_lead_count == 1
    assert archived.pk not in shown.patient_ids
