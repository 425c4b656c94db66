"""Each patient rule says the same words wherever it refuses: the service or the model constraint that
enforces it, the staff form that checks it early, and the spreadsheet import."""

from datetime import time

import pytest
from django.contrib.messages import get_messages
from django.core.exceptions import ValidationError

from patients import services
from patients.forms import CareTeamMemberForm, ChangeLeadForm, PatientForm
from patients.importing import patients_import
from patients.models import CareTeamMember, Patient
from patients.validation import (
    ALREADY_ON_THE_TEAM,
    COLLEAGUE_NEEDED,
    CONSENT_NEEDS_ADDRESS,
    LEAD_MUST_PRACTISE,
    MEMBER_ROLES,
    ONE_LEAD,
    PREFERRED_CHANNEL_NEEDS_ADDRESS,
    QUIET_HOURS_EMPTY,
    SPECIALIST_NEEDS_A_NAME,
    UNKNOWN_CARE_TEAM_ROLE,
)
from tests.factories import PatientFactory, UserFactory

pytestmark = pytest.mark.django_db

NEW_PATIENT = {
    "first_name": "Ada",
    "last_name": "Okafor",
    "email": "ada@example.com",
    "phone": "",
    "time_zone": "America/Chicago",
    "preferred_channel": "email",
    "quiet_hours_start": "20:00",
    "quiet_hours_end": "08:00",
    "source": "website",
}


def refusal(call, *args, **kwargs) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        call(*args, **kwargs)
    return caught.value.messages


def import_reasons(*rows: str, header: str, actor) -> list[str]:
    report = patients_import(file_or_text="\n".join([header, *rows]) + "\n", actor=actor)
    return [reason for _, reason in report.errors]


def flashed(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


# --- Consent needs an address ---------------------------------------------------------------------


def test_consent_without_an_address_is_refused_in_the_services_words_everywhere(staff, practitioner):
    no_phone = PatientFactory(phone="")
    words = CONSENT_NEEDS_ADDRESS["sms"]

    assert refusal(
        services.consent_record, patient=no_phone, channel="sms", granted=True, via="test", actor=staff
    ) == [words]

    form = PatientForm(NEW_PATIENT | {"lead": practitioner.pk, "consent_sms": "on"}, creating=True)
    assert not form.is_valid()
    assert form.errors["consent_sms"] == [words]

    reasons = import_reasons(
        "Dee,Evans,dee@example.com,,no,yes",
        header="first_name,last_name,email,phone,consent_email,consent_sms",
        actor=staff,
    )
    assert reasons == [f"consent_sms: {words}"]


def test_the_create_page_shows_the_consent_refusal_and_creates_nobody(client_for, staff, practitioner):
    data = NEW_PATIENT | {
        "lead": practitioner.pk,
        "email": "",
        "preferred_channel": "sms",
        "phone": "312 555 0147",
    }
    response = client_for(staff).post("/patients/new/", data | {"consent_email": "on"})
    assert response.status_code == 200
    assert response.context["form"].errors["consent_email"] == [CONSENT_NEEDS_ADDRESS["email"]]
    assert not Patient.objects.exists()


# --- The lead: an active practitioner, and only one ----------------------------------------------


def test_a_lead_who_does_not_practise_is_refused_in_the_services_words_everywhere(staff, practitioner):
    patient = PatientFactory()
    gone = UserFactory(username="gone", role="practitioner", is_active=False)

    assert refusal(services.care_team_set_lead, patient=patient, user=staff, actor=staff) == [
        LEAD_MUST_PRACTISE
    ]
    assert refusal(services.care_team_set_lead, patient=patient, user=gone, actor=staff) == [
        LEAD_MUST_PRACTISE
    ]

    for user in (staff, gone):
        form = ChangeLeadForm({"lead": user.pk})
        assert not form.is_valid() and form.errors["lead"] == [LEAD_MUST_PRACTISE]
        form = PatientForm(NEW_PATIENT | {"lead": user.pk}, creating=True)
        assert not form.is_valid() and form.errors["lead"] == [LEAD_MUST_PRACTISE]

    reasons = import_reasons(
        "Ada,Okafor,ada@example.com,gone", header="first_name,last_name,email,lead", actor=staff
    )
    assert reasons == [f"lead “gone”: {LEAD_MUST_PRACTISE}"]


def test_the_change_lead_button_flashes_the_services_words(client_for, staff, practitioner):
    patient = services.patient_create(
        actor=staff, data={"first_name": "A", "last_name": "B"}, lead=practitioner
    )
    response = client_for(staff).post(f"/patients/{patient.pk}/lead/", {"lead": staff.pk})
    assert flashed(response) == [LEAD_MUST_PRACTISE]
    assert CareTeamMember.objects.current().get(patient=patient, role="lead").user == practitioner


def test_a_second_lead_is_refused_by_the_constraint_in_the_same_words(
    staff, practitioner, other_practitioner
):
    patient = services.patient_create(
        actor=staff, data={"first_name": "A", "last_name": "B"}, lead=practitioner
    )
    second = CareTeamMember(patient=patient, user=other_practitioner, role="lead")
    assert refusal(second.validate_constraints) == [ONE_LEAD]
    again = CareTeamMember(patient=patient, user=practitioner, role="practitioner")
    assert refusal(again.validate_constraints) == [ALREADY_ON_THE_TEAM]
    assert refusal(
        services.care_team_add, patient=patient, actor=staff, role="practitioner", user=practitioner
    ) == [ALREADY_ON_THE_TEAM]


# --- Who joins the care team ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "field", "words"),
    [("specialist", "external_name", SPECIALIST_NEEDS_A_NAME), ("health_coach", "user", COLLEAGUE_NEEDED)],
)
def test_a_care_team_member_nobody_named_is_refused_in_the_same_words_everywhere(
    client_for, staff, role, field, words
):
    patient = PatientFactory()
    assert refusal(services.care_team_add, patient=patient, actor=staff, role=role) == [words]

    form = CareTeamMemberForm({"role": role})
    assert not form.is_valid() and form.errors == {field: [words]}

    row = CareTeamMember(patient=patient, role=role)
    assert words in refusal(row.validate_constraints)  # what admin's care-team inline shows

    response = client_for(staff).post(f"/patients/{patient.pk}/care-team/", {"role": role})
    assert flashed(response) == [words]
    assert not CareTeamMember.objects.exists()


# --- Quiet hours and the preferred channel --------------------------------------------------------


def test_empty_quiet_hours_are_refused_in_the_constraints_words_everywhere(staff, practitioner):
    patient = Patient(first_name="A", last_name="B", quiet_hours_start=time(8), quiet_hours_end=time(8))
    with pytest.raises(ValidationError) as caught:
        patient.full_clean(exclude=["search_text"])
    assert caught.value.messages == [QUIET_HOURS_EMPTY]

    form = PatientForm(NEW_PATIENT | {"lead": practitioner.pk, "quiet_hours_end": "20:00"}, creating=True)
    assert not form.is_valid() and form.errors == {"quiet_hours_end": [QUIET_HOURS_EMPTY]}

    header = "first_name,last_name,email,quiet_hours_start,quiet_hours_end"
    reasons = import_reasons("Ada,Okafor,ada@example.com,08:00,08:00", header=header, actor=staff)
    assert reasons == [f"quiet_hours_end: {QUIET_HOURS_EMPTY}"]


@pytest.mark.parametrize(("channel", "field"), [("email", "email"), ("sms", "phone")])
def test_a_preferred_channel_without_its_address_is_refused_in_the_same_words(
    staff, practitioner, channel, field
):
    words = PREFERRED_CHANNEL_NEEDS_ADDRESS[channel]
    data = NEW_PATIENT | {"lead": practitioner.pk, "preferred_channel": channel, "email": "", "phone": ""}
    form = PatientForm(data, creating=True)
    assert not form.is_valid() and form.errors == {field: [words]}

    header = "first_name,last_name,preferred_channel"
    assert import_reasons(f"Ada,Okafor,{channel}", header=header, actor=staff) == [
        f"preferred_channel: {words}"
    ]


@pytest.mark.parametrize("role", ["chef", "lead ", "", "LEAD", "practitioner\x00"])
def test_a_care_team_role_nobody_offers_is_refused_in_the_same_words_everywhere(client_for, staff, role):
    patient = PatientFactory()
    assert refusal(services.care_team_add, patient=patient, actor=staff, role=role, user=staff) == [
        UNKNOWN_CARE_TEAM_ROLE
    ]

    form = CareTeamMemberForm({"role": role, "user": staff.pk})
    assert not form.is_valid() and form.errors == {"role": [UNKNOWN_CARE_TEAM_ROLE]}

    response = client_for(staff).post(f"/patients/{patient.pk}/care-team/", {"role": role, "user": staff.pk})
    assert flashed(response) == [UNKNOWN_CARE_TEAM_ROLE]
    assert not CareTeamMember.objects.exists()
    assert client_for(staff).get(f"/patients/{patient.pk}/").status_code == 200


def test_the_roles_a_member_joins_in_are_every_role_but_the_lead():
    assert set(MEMBER_ROLES) == set(CareTeamMember.Role.values) - {CareTeamMember.Role.LEAD}
    assert [value for value, _ in CareTeamMemberForm.ROLE_CHOICES] == list(MEMBER_ROLES)


def test_the_patient_page_shows_a_member_whose_stored_role_is_unknown(client_for, staff, practitioner):
    """A row written before roles were checked (or by hand) no longer breaks the patient page."""
    patient = services.patient_create(
        actor=staff, data={"first_name": "A", "last_name": "B"}, lead=practitioner
    )
    CareTeamMember.objects.create(patient=patient, user=staff, role="chef")
    response = client_for(staff).get(patient.section_url("contact"))
    assert response.status_code == 200
    assert "chef" in response.content.decode()
