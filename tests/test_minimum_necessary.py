"""DESIGN.md's minimum-necessary rule across every panel of the patient page: staff never read a visit
note's text, the intake story, or the patient's own check-in words; practitioners do, where they belong."""

from datetime import timedelta

import pytest
from django.utils import timezone

from compliance.models import CheckInAnswer
from journeys.models import CheckIn, Journey, Stage
from journeys.services.notes import note_create
from journeys.services.visits import visit_schedule
from patients.services import care_team_set_lead
from tests.factories import PatientFactory
from tests.support.patient_page import whole_record

pytestmark = pytest.mark.django_db

STORY = "Since my divorce I have barely slept and the bloating started then"
NOTE_BODY = "Suspect SIBO; discussed the elimination phase at length"
OWN_WORDS = "The powders made me feel sick so I stopped them on Tuesday"


@pytest.fixture
def patient_with_clinical_text(practitioner, staff):
    patient = PatientFactory()
    care_team_set_lead(patient=patient, user=practitioner, actor=staff)
    journey = Journey.objects.create(patient=patient, stage=Stage.CHECK_INS)
    visit = visit_schedule(
        patient=patient,
        practitioner=practitioner,
        kind="intake",
        starts_at=timezone.now() + timedelta(days=1),
        actor=staff,
        journey=journey,
    )
    note_create(
        visit=visit,
        author=practitioner,
        title="Deep Reconnaissance — intake",
        body=NOTE_BODY,
        sections={"story": STORY, "tried": "Probiotics", "fears": "Cancer", "goals": "Sleep through"},
    )
    checkin = CheckIn.objects.create(
        journey=journey,
        due_on=timezone.localdate() - timedelta(days=1),
        closes_at=timezone.now() + timedelta(days=1),
        status=CheckIn.Status.ANSWERED,
        answered_at=timezone.now(),
    )
    CheckInAnswer.objects.create(
        checkin=checkin, patient=patient, where_it_failed=OWN_WORDS, barriers=["taste"]
    )
    return patient


def test_staff_see_that_notes_and_answers_exist_but_never_their_text(
    client_for, staff, patient_with_clinical_text
):
    body = whole_record(client_for(staff), patient_with_clinical_text)
    assert "Deep Reconnaissance — intake" in body  # the note's title: staff may know it exists
    for secret in (STORY, NOTE_BODY, OWN_WORDS, "Probiotics"):
        assert secret not in body


def test_practitioners_read_the_patients_own_words_on_the_patient_page(
    client_for, practitioner, patient_with_clinical_text
):
    body = whole_record(client_for(practitioner), patient_with_clinical_text)
    assert OWN_WORDS in body
    assert NOTE_BODY not in body, "note text belongs on the note's own (audited) page, not the patient page"
