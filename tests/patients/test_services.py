from datetime import time, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import AccessEvent
from patients import selectors, services
from patients.models import CareTeamMember, ConsentEvent, Patient
from tests.factories import PatientFactory, UserFactory

pytestmark = pytest.mark.django_db


def new_patient(actor, **data):
    base = {"first_name": "Renée", "last_name": "Côté", "email": "renee@example.com", "phone": "+13125550147"}
    return services.patient_create(actor=actor, data=base | data)


def test_patient_create_records_the_lead_the_consent_and_an_audit_row(staff, practitioner):
    patient = services.patient_create(
        actor=staff,
        data={
            "first_name": "Renée",
            "last_name": "Côté",
            "email": "renee@example.com",
            "phone": "+13125550147",
        },
        lead=practitioner,
        consent_email=True,
    )
    assert CareTeamMember.objects.get(patient=patient).user == practitioner
    consent = selectors.patient_consent(patient)
    assert consent["email"].active and not consent["sms"].granted
    assert AccessEvent.objects.filter(patient_id=patient.pk, action="create", actor=staff).exists()


def test_an_unknown_time_zone_is_refused(staff):
    with pytest.raises(ValidationError) as error:
        new_patient(staff, time_zone="Mars/Olympus_Mons")
    assert "not a time zone we know" in str(error.value)
    assert not Patient.objects.exists()


def test_a_phone_not_in_international_form_is_refused_by_the_model(staff):
    with pytest.raises(ValidationError, match="is not a valid number"):
        new_patient(staff, phone="555-0147")


def test_quiet_hours_that_wrap_midnight(staff):
    patient = new_patient(staff, quiet_hours_start=time(21, 30), quiet_hours_end=time(7, 0))
    assert patient.in_quiet_hours(time(23, 0))
    assert patient.in_quiet_hours(time(2, 0))
    assert patient.in_quiet_hours(time(21, 30))
    assert not patient.in_quiet_hours(time(7, 0))
    assert not patient.in_quiet_hours(time(12, 0))


def test_quiet_hours_within_one_day(staff):
    patient = new_patient(staff, quiet_hours_start=time(12, 0), quiet_hours_end=time(14, 0))
    assert patient.in_quiet_hours(time(13, 0))
    assert not patient.in_quiet_hours(time(23, 0))


def test_empty_quiet_hours_are_refused_by_the_database(staff):
    patient = new_patient(staff)
    with pytest.raises(IntegrityError, match="patient_quiet_hours_not_empty"), transaction.atomic():
        Patient.objects.filter(pk=patient.pk).update(quiet_hours_start=time(8, 0), quiet_hours_end=time(8, 0))


def test_the_database_holds_one_current_lead_per_patient(practitioner, other_practitioner):
    patient = PatientFactory()
    CareTeamMember.objects.create(patient=patient, user=practitioner, role="lead")
    with (
        pytest.raises(IntegrityError, match=r"careteam_one_current_lead|patients_careteammember\.patient_id"),
        transaction.atomic(),
    ):
        CareTeamMember.objects.create(patient=patient, user=other_practitioner, role="lead")
    # An ended lead is history, and does not count.
    CareTeamMember.objects.filter(patient=patient).update(ended_at=timezone.now())
    CareTeamMember.objects.create(patient=patient, user=other_practitioner, role="lead")
    assert CareTeamMember.objects.current().filter(patient=patient, role="lead").count() == 1


def test_changing_the_lead_keeps_history_and_one_lead(staff, practitioner, other_practitioner):
    patient = new_patient(staff, lead=None)
    services.care_team_set_lead(patient=patient, user=practitioner, actor=staff)
    services.care_team_set_lead(patient=patient, user=other_practitioner, actor=staff, note="moved clinics")

    current, former = selectors.care_team(patient)
    assert [(m.user, m.role) for m in current] == [
        (other_practitioner, "lead"),
        (practitioner, "practitioner"),
    ]
    assert [(m.user, m.role) for m in former] == [(practitioner, "lead")]
    assert AccessEvent.objects.filter(patient_id=patient.pk, detail__startswith="lead changed").count() == 2


def test_changing_the_lead_can_drop_the_previous_lead(staff, practitioner, other_practitioner):
    patient = new_patient(staff)
    services.care_team_set_lead(patient=patient, user=practitioner, actor=staff)
    services.care_team_set_lead(patient=patient, user=other_practitioner, actor=staff, keep_previous=False)
    current, _ = selectors.care_team(patient)
    assert [m.user for m in current] == [other_practitioner]


def test_a_team_member_promoted_to_lead_is_not_listed_twice(staff, practitioner, other_practitioner):
    patient = new_patient(staff)
    services.care_team_set_lead(patient=patient, user=practitioner, actor=staff)
    services.care_team_add(patient=patient, actor=staff, role="practitioner", user=other_practitioner)
    services.care_team_set_lead(patient=patient, user=other_practitioner, actor=staff)
    current, _ = selectors.care_team(patient)
    assert sorted((m.user.username, m.role) for m in current) == [("bob", "practitioner"), ("dana", "lead")]


def test_staff_cannot_lead_a_patients_care(staff):
    patient = new_patient(staff)
    with pytest.raises(ValidationError, match="active practitioner"):
        services.care_team_set_lead(patient=patient, user=staff, actor=staff)


def test_the_lead_cannot_be_removed_only_replaced(staff, practitioner):
    patient = new_patient(staff)
    lead = services.care_team_set_lead(patient=patient, user=practitioner, actor=staff)
    with pytest.raises(ValidationError, match="choose a new lead"):
        services.care_team_end(member=lead, actor=staff)


def test_an_external_specialist_needs_a_name(staff):
    patient = new_patient(staff)
    with pytest.raises(ValidationError, match="specialist's name"):
        services.care_team_add(patient=patient, actor=staff, role="specialist")
    member = services.care_team_add(
        patient=patient,
        actor=staff,
        role="specialist",
        external_name="Dr. Ito",
        external_practice="GI Associates",
    )
    assert member.user is None and member.name == "Dr. Ito"


def test_withdraw_then_regrant_leaves_the_right_state_and_a_complete_history(staff):
    patient = new_patient(staff)
    t0 = timezone.now()
    services.consent_record(patient=patient, channel="sms", granted=True, actor=staff, via="form", at=t0)
    services.consent_record(
        patient=patient, channel="sms", granted=False, via="SMS STOP", at=t0 + timedelta(minutes=1)
    )
    assert not selectors.patient_consent(patient)["sms"].active
    assert selectors.patient_may_message(patient, "sms") == (False, "no SMS consent")

    services.consent_record(
        patient=patient, channel="sms", granted=True, via="SMS START", at=t0 + timedelta(minutes=2)
    )
    state = selectors.patient_consent(patient)["sms"]
    assert state.active and state.via == "SMS START"
    history = list(ConsentEvent.objects.filter(patient=patient).order_by("at").values_list("granted", "via"))
    assert history == [(True, "form"), (False, "SMS STOP"), (True, "SMS START")]
    assert selectors.patient_may_message(patient, "sms") == (True, "")


def test_consent_covers_only_the_number_it_was_given_for(staff):
    patient = new_patient(staff)
    services.consent_record(patient=patient, channel="sms", granted=True, actor=staff, via="form")
    services.patient_update(actor=staff, patient=patient, data={"phone": "+13125550199"})
    state = selectors.patient_consent(patient)["sms"]
    assert state.granted and not state.covers_current_address
    assert selectors.patient_may_message(patient, "sms")[0] is False


def test_consent_cannot_be_granted_without_an_address(staff):
    patient = new_patient(staff, phone="")
    with pytest.raises(ValidationError, match="Add a mobile number"):
        services.consent_record(patient=patient, channel="sms", granted=True, actor=staff, via="form")


def test_archived_and_unsubscribed_patients_may_not_be_messaged(staff):
    patient = new_patient(staff)
    services.consent_record(patient=patient, channel="email", granted=True, actor=staff, via="form")
    assert selectors.patient_may_message(patient, "email") == (True, "")
    assert services.patient_unsubscribe(patient=patient, via="unsubscribe link")
    assert not services.patient_unsubscribe(patient=patient, via="unsubscribe link")
    assert selectors.patient_may_message(patient, "email") == (False, "patient unsubscribed")


def test_patient_update_audits_what_changed(staff):
    patient = new_patient(staff)
    changed = services.patient_update(
        actor=staff, patient=patient, data={"pronouns": "she/her", "first_name": "Renée"}
    )
    assert changed == ["pronouns"]
    event = AccessEvent.objects.get(patient_id=patient.pk, action="update")
    assert event.detail == "changed pronouns"


def test_search_ignores_case_and_accents(staff):
    new_patient(staff, first_name="José", last_name="Núñez", email="jn@example.com", phone="+13125550101")
    new_patient(staff, first_name="Zoë", last_name="Ångström", email="zoe@example.com", phone="+13125550102")
    names = lambda q: sorted(p.display_name for p in selectors.patient_list(query=q))  # noqa: E731
    assert names("jose") == ["José Núñez"]
    assert names("NUNEZ") == ["José Núñez"]
    assert names("núñ") == ["José Núñez"]
    assert names("angstrom zo") == ["Zoë Ångström"]
    assert names("zoe@example") == ["Zoë Ångström"]
    assert names("(312) 555-0102") == ["Zoë Ångström"]
    assert names("nobody") == []


def test_list_filters_by_lead_source_and_archive(staff, practitioner, other_practitioner):
    a = new_patient(staff, email="a@example.com", phone="+13125550111", source="referral")
    b = new_patient(staff, email="b@example.com", phone="+13125550112", source="website")
    c = new_patient(staff, email="c@example.com", phone="+13125550113")
    services.care_team_set_lead(patient=a, user=practitioner, actor=staff)
    services.care_team_set_lead(patient=b, user=other_practitioner, actor=staff)
    services.patient_set_archived(actor=staff, patient=c, archived=True)

    assert list(selectors.patient_list(lead_id=practitioner.pk)) == [a]
    assert list(selectors.patient_list(source="website")) == [b]
    assert list(selectors.patient_list(archived="archived")) == [c]
    assert list(selectors.patient_list(lead_id=0, archived="all")) == [c]
    assert set(selectors.patient_list()) == {a, b}


def test_duplicates_are_found_by_email_or_phone(staff):
    patient = new_patient(staff)
    assert selectors.patient_find_duplicates(email="RENEE@example.com") == [patient]
    assert selectors.patient_find_duplicates(phone="+13125550147") == [patient]
    assert selectors.patient_find_duplicates(email="other@example.com", phone="+13125550000") == []
    assert selectors.patient_find_duplicates(email="renee@example.com", exclude_pk=patient.pk) == []


def test_inactive_users_are_not_lead_candidates(practitioner):
    UserFactory(role="practitioner", username="gone", is_active=False)
    assert list(selectors.lead_candidates()) == [practitioner]


def test_lead_choices_name_the_candidates_in_order_without_the_inactive(practitioner):
    UserFactory(role="practitioner", username="gone", is_active=False)
    UserFactory(role="practitioner", username="zed", display_name="")
    UserFactory(role="practitioner", username="amy1", display_name="Amy Adams")
    UserFactory(role="staff", username="desk", display_name="Front desk")
    expected = [(str(u.pk), str(u)) for u in selectors.lead_candidates().order_by("display_name", "username")]
    assert selectors.lead_choices() == expected
    assert ("Front desk" not in dict(expected).values()) and "zed" in dict(expected).values()


def test_lead_choices_compiled_once_read_who_is_a_candidate_now(practitioner, django_assert_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    selectors.lead_choices()  # compiled
    newcomer = UserFactory(role="practitioner", username="new", display_name="O'Brien <b>&</b>")
    with CaptureQueriesContext(connection) as ours, django_assert_num_queries(1):
        choices = selectors.lead_choices()
    assert (str(newcomer.pk), "O'Brien <b>&</b>") in choices
    with CaptureQueriesContext(connection) as orms:
        list(selectors.lead_candidates().values_list("pk", "display_name", "username"))
    assert ours.captured_queries[0]["sql"] == orms.captured_queries[0]["sql"]
    newcomer.is_active = False
    newcomer.save()
    assert str(newcomer.pk) not in dict(selectors.lead_choices())


def test_the_practitioner_select_names_each_candidate_once_in_order(practitioner, django_assert_num_queries):
    from patients.forms import ChangeLeadForm

    UserFactory(role="practitioner", username="zed", display_name="")
    UserFactory(role="practitioner", username="amy1", display_name="Amy <b>Adams</b>")
    UserFactory(role="practitioner", username="gone", is_active=False)
    field = ChangeLeadForm().fields["lead"]
    with django_assert_num_queries(1):
        options = [*iter(field.choices)]  # list() would count them first
    expected = [(u.pk, str(u)) for u in selectors.lead_candidates().order_by("display_name", "username")]
    assert options == [("", field.empty_label), *expected]
    with django_assert_num_queries(1):
        markup = str(ChangeLeadForm()["lead"])
    assert "Amy &lt;b&gt;Adams&lt;/b&gt;" in markup and ">zed</option>" in markup and "gone" not in markup
    form = ChangeLeadForm(data={"lead": str(practitioner.pk)})
    assert form.is_valid() and form.cleaned_data["lead"] == practitioner  # choosing still gives the user
