"""The patient page's header at a glance written in Python (``dashboard.summary_markup.summary_html``): byte
for byte what ``dashboard/_patient_summary.html`` (with the ``_stage_move.html`` and ``journeys/_visit_when.html``
it includes) writes, for a journey at every stage, paused, ended or none, with and without a lead, adherence,
a visit in the clinic's zone or the patient's own, open alerts, and hostile text everywhere."""

import re
from datetime import timedelta

import pytest
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.utils import timezone

from compliance.models import Alert
from dashboard.patient_page import patient_summary
from dashboard.summary_markup import summary_html
from journeys.models import Journey, Program, Stage, Visit
from patients.models import CareTeamMember, Patient
from patients.services import consent_record
from tests.factories import PatientFactory, UserFactory
from tests.journeys.test_stages import journey_at

pytestmark = pytest.mark.django_db

HOSTILE = "<script>alert('x')</script> \"Quote\" & Sons"
_TOKEN = re.compile(r'(name="csrfmiddlewaretoken" value=")[^"]+"')


def both(patient: Patient, user) -> tuple[str, str]:
    patient = Patient.objects.with_lead().get(pk=patient.pk)  # as the page reads it
    request = RequestFactory().get(f"/patients/{patient.pk}/?tab=visits&x=<b>&y=\"'")
    request.user = user
    summary = patient_summary(patient)
    ours = summary_html(request, patient, summary)  # its own token: compared without it
    theirs = render_to_string(
        "dashboard/_patient_summary.html", {"patient": patient, "summary": summary}, request
    )
    return _TOKEN.sub(r'\1"', ours), _TOKEN.sub(r'\1"', theirs)


def dress(patient, practitioner, *, zone: str, alerts: int, escalated: bool, lead: bool) -> None:
    patient.first_name = patient.preferred_name = patient.last_name = HOSTILE
    patient.time_zone = zone
    patient.save()
    if lead:
        CareTeamMember.objects.create(patient=patient, user=UserFactory(display_name=HOSTILE), role="lead")
    consent_record(patient=patient, channel="email", granted=True, via="test")
    journey = Journey.objects.filter(patient=patient).first()
    if journey is not None:
        journey.program = Program.objects.create(name=HOSTILE, weeks=12)
        journey.save()
    Visit.objects.create(
        patient=patient, practitioner=UserFactory(role="practitioner", display_name=HOSTILE), kind="intake",
        starts_at=timezone.now() + timedelta(days=3, minutes=7), journey=journey,
    )  # fmt: skip
    for n in range(alerts):  # the latest one open (one a patient), the others answered
        Alert.objects.create(
            patient=patient, journey=journey, reason="low_adherence", detail=HOSTILE,
            reasons=[{"reason": "low_adherence", "detail": HOSTILE}, {"reason": "missed_checkins", "detail": "2"}],
            opened_at=timezone.now() - timedelta(days=3 + n, hours=5), escalated_at=timezone.now() if escalated else None,
            resolved_at=timezone.now() - timedelta(days=1) if n else None,
        )  # fmt: skip


STAGES = [*Stage.values]


@pytest.mark.parametrize("stage", STAGES)
def test_the_summary_is_what_its_template_writes_at_every_stage(practitioner, stage):
    if stage == Stage.PAUSED:
        journey = journey_at(stage, practitioner, paused_from=Stage.BLUEPRINT)
    elif stage in (Stage.DECLINED, Stage.WITHDRAWN):
        journey = journey_at(stage, practitioner, paused_from=Stage.DISCOVERY)
    else:
        journey = journey_at(stage, practitioner)
    n = STAGES.index(stage)
    dress(
        journey.patient, practitioner, zone="Asia/Tokyo" if n % 2 else "America/New_York", alerts=n % 3,
        escalated=n % 2 == 0, lead=n % 2 == 1,
    )  # fmt: skip
    ours, theirs = both(journey.patient, practitioner)
    assert ours == theirs
    assert "<script>" not in ours and "&lt;script&gt;" in ours


def test_an_ended_journey_and_a_patient_with_nothing_are_what_the_template_writes(practitioner, staff):
    ended = journey_at(Stage.GRADUATED, practitioner)
    ended.ended_at = timezone.now() - timedelta(days=40)
    ended.stage_entered_at = timezone.now() - timedelta(days=1, hours=1)  # one day: "day", not "days"
    ended.save()
    for patient in (ended.patient, PatientFactory(first_name=HOSTILE)):
        for user in (practitioner, staff):
            ours, theirs = both(patient, user)
            assert ours == theirs
            assert "Move stage" not in ours


def test_the_move_form_is_written_with_this_requests_token_and_address(practitioner):
    journey = journey_at(Stage.CHECK_INS, practitioner)
    ours, _ = both(journey.patient, practitioner)
    assert f'action="/journeys/{journey.pk}/move/"' in ours
    assert 'name="next" value="/patients/' in ours and "x=%3Cb%3E&amp;y=%22&#x27;" in ours
    assert f'id="move{journey.pk}_' in ours


def test_the_pages_forms_share_one_csrf_token(client_for, practitioner):
    journey = journey_at(Stage.CHECK_INS, practitioner)
    body = client_for(practitioner).get(f"/patients/{journey.patient.pk}/").content.decode()
    tokens = re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', body)
    tokens += re.findall(r'"X-CSRFToken": "([^"]+)"', body)
    assert (
        len(tokens) >= 3 and len(set(tokens)) == 1
    )  # the header's archive form, the move form, htmx's header
