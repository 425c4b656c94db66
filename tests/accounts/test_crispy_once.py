"""``as_crispy_field_once``: what ``as_crispy_field`` writes, kept for an untouched field and reused only where
the field would look the same; a bound field, with its errors, renders afresh."""

import pytest
from crispy_forms.templatetags.crispy_forms_filters import as_crispy_field
from django import forms

from accounts.templatetags.crispy_once import as_crispy_field_once
from nudges.forms import OneOffMessageForm
from patients.models import Patient
from patients.services import consent_record
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db

HOSTILE = "<script>alert('x')</script> \"Quote\" & Sons"


def reachable(**fields) -> Patient:
    patient = PatientFactory(**fields)
    for channel in ("email", "sms"):
        consent_record(patient=patient, channel=channel, granted=True, via="test")
    return Patient.objects.with_consent().get(pk=patient.pk)


def test_each_field_is_what_crispy_writes_for_patients_in_different_zones():
    patients = [
        reachable(time_zone="America/New_York", preferred_channel="email"),
        reachable(time_zone="Europe/Lisbon", preferred_channel="sms"),
        reachable(time_zone="America/New_York", preferred_channel="email"),
    ]
    for patient in patients * 2:  # the second round is written from what was kept
        form = OneOffMessageForm(patient=patient)
        for name in form.fields:
            assert as_crispy_field_once(form[name]) == as_crispy_field(
                OneOffMessageForm(patient=patient)[name]
            )
    lisbon = as_crispy_field_once(OneOffMessageForm(patient=patients[1])["send_at"])
    assert "Europe/Lisbon time" in lisbon


def test_a_bound_field_shows_its_own_value_and_errors():
    patient = reachable()
    form = OneOffMessageForm({"channel": "email", "message": "", "subject": HOSTILE}, patient=patient)
    assert not form.is_valid()
    message, subject = as_crispy_field_once(form["message"]), as_crispy_field_once(form["subject"])
    assert "Write the message before sending it." in message
    assert "<script>" not in subject and "&lt;script&gt;" in subject
    untouched = as_crispy_field_once(OneOffMessageForm(patient=patient)["subject"])
    assert "&lt;script&gt;" not in untouched and "is-invalid" not in untouched


class Picked(forms.Form):
    who = forms.ModelChoiceField(queryset=Patient.objects.order_by("pk"))


def test_a_field_whose_choices_are_a_query_is_read_once(django_assert_num_queries):
    PatientFactory(first_name=HOSTILE)
    with django_assert_num_queries(1):
        html = as_crispy_field_once(Picked()["who"])
    assert "<script>" not in html
