from datetime import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import AccessEvent
from patients import selectors, services
from patients.models import CareTeamMember, Patient
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db

VALID = {
    "first_name": "José",
    "last_name": "Núñez",
    "preferred_name": "Pepe",
    "pronouns": "he/him",
    "date_of_birth": "1984-03-09",
    "email": "Jose.Nunez@Example.com",
    "phone": "(312) 555-0147",
    "time_zone": "America/Chicago",
    "preferred_channel": "sms",
    "quiet_hours_start": "21:00",
    "quiet_hours_end": "07:30",
    "source": "website",
    "consent_sms": "on",
}


@pytest.fixture
def patient(staff, practitioner):
    p = services.patient_create(
        actor=staff,
        data={
            "first_name": "Renée",
            "last_name": "Côté",
            "email": "renee@example.com",
            "phone": "+13125550147",
        },
        lead=practitioner,
    )
    AccessEvent.objects.all()  # creation is audited; tests below look at reads
    return p


@pytest.mark.parametrize("role", ["staff", "practitioner", "admin_user"])
def test_every_role_can_use_the_patient_pages(request, client_for, patient, role):
    client = client_for(request.getfixturevalue(role))
    for url in ("/patients/", "/patients/new/", f"/patients/{patient.pk}/", f"/patients/{patient.pk}/edit/"):
        assert client.get(url).status_code == 200, url


@pytest.mark.parametrize(
    "url", ["/patients/", "/patients/new/", "/patients/1/", "/patients/1/edit/", "/patients/1/lead/"]
)
def test_anonymous_visitors_are_sent_to_sign_in(client, url):
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/sign-in/")


def test_opening_a_patient_writes_an_audit_row(client_for, staff, patient):
    client_for(staff).get(f"/patients/{patient.pk}/", REMOTE_ADDR="10.9.8.7")
    event = AccessEvent.objects.filter(action="view").get()
    assert (event.actor, event.patient_id, event.ip_address) == (staff, patient.pk, "10.9.8.7")
    assert event.path == f"/patients/{patient.pk}/"


def test_an_unknown_patient_is_404(client_for, staff):
    assert client_for(staff).get("/patients/999999/").status_code == 404
    assert not AccessEvent.objects.exists()


def test_creating_a_patient_normalises_and_records_everything(client_for, staff, practitioner):
    response = client_for(staff).post("/patients/new/", VALID | {"lead": practitioner.pk})
    patient = Patient.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/patients/{patient.pk}/"
    assert patient.phone == "+13125550147"
    assert patient.email == "jose.nunez@example.com"
    assert (patient.quiet_hours_start, patient.quiet_hours_end) == (time(21, 0), time(7, 30))
    assert selectors.patient_consent(patient)["sms"].active
    assert not selectors.patient_consent(patient)["email"].granted
    assert CareTeamMember.objects.get(patient=patient, role="lead").user == practitioner


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("phone", "call me", "is not a phone number"),
        ("phone", "12", "is not a valid number"),
        ("phone", "+1 555 000 0000", "is not a valid number"),
        ("time_zone", "Mars/Olympus_Mons", "Select a valid choice"),
        ("quiet_hours_end", "21:00", "must end at a different time"),
        ("first_name", "", "This field is required"),
        ("email", "not-an-email", "Enter a valid email address"),
    ],
)
def test_bad_input_gets_a_clear_message_and_changes_nothing(
    client_for, staff, practitioner, field, value, message
):
    response = client_for(staff).post("/patients/new/", VALID | {"lead": practitioner.pk, field: value})
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Patient.objects.exists()


def test_a_duplicate_email_warns_links_and_creates_nothing(client_for, staff, practitioner, patient):
    client = client_for(staff)
    data = VALID | {"lead": practitioner.pk, "email": "RENEE@example.com", "phone": ""}
    data.pop("consent_sms")
    data["preferred_channel"] = "email"
    response = client.post("/patients/new/", data)
    body = response.content.decode()
    assert response.status_code == 200
    assert "already exists" in body
    assert f'href="/patients/{patient.pk}/"' in body
    assert Patient.objects.count() == 1

    response = client.post("/patients/new/", data | {"confirm_not_duplicate": "on"})
    assert response.status_code == 302
    assert Patient.objects.count() == 2


def test_editing_quiet_hours(client_for, practitioner, patient):
    client = client_for(practitioner)
    form = client.get(f"/patients/{patient.pk}/edit/").context["form"]
    data = {k: v for k, v in form.initial.items() if v is not None and k in form.fields}
    data |= {"quiet_hours_start": "22:15", "quiet_hours_end": "06:45", "referred_by": ""}
    response = client.post(f"/patients/{patient.pk}/edit/", data)
    assert response.status_code == 302, response.context["form"].errors
    assert response["Location"] == f"/patients/{patient.pk}/?tab=contact#panel-contact"
    patient.refresh_from_db()
    assert (patient.quiet_hours_start, patient.quiet_hours_end) == (time(22, 15), time(6, 45))
    assert AccessEvent.objects.filter(action="update", detail__contains="quiet_hours_start").exists()


def test_changing_the_lead_from_the_page(client_for, staff, other_practitioner, patient):
    response = client_for(staff).post(
        f"/patients/{patient.pk}/lead/", {"lead": other_practitioner.pk, "keep_previous": "on"}, follow=True
    )
    assert "now leads" in response.content.decode()
    assert response.redirect_chain[0][0] == f"/patients/{patient.pk}/?tab=contact#panel-team"
    assert CareTeamMember.objects.current().get(patient=patient, role="lead").user == other_practitioner


def test_a_form_post_without_csrf_is_refused(staff, other_practitioner, patient):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(staff)
    response = client.post(f"/patients/{patient.pk}/lead/", {"lead": other_practitioner.pk})
    assert response.status_code == 403
    assert CareTeamMember.objects.current().get(patient=patient, role="lead").user != other_practitioner


def test_recording_and_withdrawing_consent_from_the_page(client_for, staff, patient):
    client = client_for(staff)
    response = client.post(f"/patients/{patient.pk}/consent/", {"channel": "email", "granted": "yes"})
    assert response["Location"] == f"/patients/{patient.pk}/?tab=contact#panel-contact"
    assert selectors.patient_consent(patient)["email"].active
    client.post(f"/patients/{patient.pk}/consent/", {"channel": "email", "granted": "no"})
    assert not selectors.patient_consent(patient)["email"].granted
    assert patient.consent_events.count() == 2


def test_adding_and_removing_a_care_team_member(client_for, staff, other_practitioner, patient):
    client = client_for(staff)
    client.post(f"/patients/{patient.pk}/care-team/", {"role": "specialist", "external_name": "Dr. Ito"})
    member = CareTeamMember.objects.get(patient=patient, external_name="Dr. Ito")
    client.post(f"/patients/{patient.pk}/care-team/{member.pk}/remove/")
    member.refresh_from_db()
    assert member.ended_at is not None
    body = client.get(patient.section_url("contact", "team")).content.decode()
    assert "Former care team" in body


def test_archiving_hides_a_patient_from_the_default_list(client_for, staff, patient):
    client = client_for(staff)
    client.post(f"/patients/{patient.pk}/archive/", {"archived": "yes"})
    assert list(client.get("/patients/").context["page"].object_list) == []
    shown = client.get("/patients/?archived=archived").context["page"].object_list
    assert [row.patient for row in shown] == [patient]


def test_user_text_is_escaped(client_for, staff):
    PatientFactory(first_name="<script>alert(1)</script>", last_name="O'Hara")
    body = client_for(staff).get("/patients/").content.decode()
    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;" in body


def test_searching_without_accents_finds_the_patient(client_for, staff, patient):
    body = client_for(staff).get("/patients/?q=renee+cote").content.decode()
    assert "Renée Côté" in body
    body = client_for(staff).get("/patients/?q=zzz").content.decode()
    assert "No patient matches" in body


def test_the_list_paginates_by_the_last_row_shown(client_for, staff):
    PatientFactory.create_batch(30)
    client = client_for(staff)
    first = client.get("/patients/")
    page = first.context["page"]
    assert len(page.object_list) == 25
    body = first.content.decode()
    assert "25 shown of 30 patients" in body
    last_shown = page.object_list[-1].pk
    assert f'href="?after={last_shown}">Next</a>' in body.replace('rel="next"\n             ', "")
    second = client.get(f"/patients/?after={last_shown}")
    assert len(second.context["page"].object_list) == 5
    assert not second.context["page"].has_next and second.context["page"].has_previous
    back = client.get(f"/patients/?before={second.context['page'].object_list[0].pk}")
    assert [row.pk for row in back.context["page"].object_list] == [row.pk for row in page.object_list]
    last = client.get("/patients/?page=last").context["page"]  # the last 25 rows, ending where the list ends
    assert len(last.object_list) == 25 and not last.has_next and last.has_previous
    assert [row.pk for row in last.object_list][-5:] == [row.pk for row in second.context["page"].object_list]
    assert len(client.get("/patients/?page=2").context["page"].object_list) == 25  # an old link: page 1


def count_queries(client, url):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries), len(response.context["page"].object_list)


@pytest.mark.parametrize("sort", ["name", "-added", "stage", "-lead"])
def test_the_list_runs_the_same_number_of_queries_for_5_and_50_rows(client_for, staff, practitioner, sort):
    client = client_for(staff)
    url = f"/patients/?per_page=50&sort={sort}"

    def add(n):
        for p in PatientFactory.create_batch(n):
            CareTeamMember.objects.create(patient=p, user=practitioner, role="lead")
            services.consent_record(patient=p, channel="email", granted=True, via="test")

    add(5)
    small, shown = count_queries(client, url)
    assert shown == 5
    add(45)
    large, shown = count_queries(client, url)
    assert shown == 50
    assert large == small
    # ids first, then the page's rows and their stages; the audit row costs its INSERT (and on PostgreSQL the
    # chain's lock and a read of the last row: accounts.chain); the navigation's capped count of open alerts;
    # the stage and lead orders a capped count.
    bounded = sort.lstrip("-") in {"stage", "lead"}
    assert small <= (12 if connection.vendor == "postgresql" else 10) + bounded


def test_the_patient_page_has_a_query_budget(client_for, staff, patient, django_assert_max_num_queries):
    client = client_for(staff)
    for _ in range(5):
        services.consent_record(patient=patient, channel="email", granted=True, via="test")
    # 19 (20 with the audit chain's lock on PostgreSQL): the header and the adherence panel share one count
    # of adherence and one read of the open alerts (23 when each counted its own).
    with django_assert_max_num_queries(20 if connection.vendor == "postgresql" else 19):
        assert client.get(f"/patients/{patient.pk}/").status_code == 200


def test_the_patient_form_sets_the_hour_check_in_requests_go(client_for, staff, practitioner):
    page = client_for(staff).get("/patients/new/").content.decode()
    assert "Evening (18:00)" in page and 'name="checkin_hour"' in page
    client_for(staff).post("/patients/new/", VALID | {"lead": practitioner.pk, "checkin_hour": "18"})
    patient = Patient.objects.get()
    assert patient.checkin_hour == 18
    assert (
        "Evening (18:00) their time" in client_for(staff).get(patient.section_url("contact")).content.decode()
    )
