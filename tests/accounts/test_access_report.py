"""An admin downloads a patient's access report: every read or change of that patient's record, and only
theirs, as CSV a spreadsheet cannot be tricked by."""

import csv
import io

import pytest
from django.test import RequestFactory

from accounts.audit import record_access, record_list, request_context
from accounts.models import AccessEvent
from accounts.reports import csv_safe
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


def rows_of(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(response.content.decode())))


@pytest.fixture
def two_patients(practitioner, staff):
    ana, ben = PatientFactory(first_name="Ana"), PatientFactory(first_name="Ben")
    request = RequestFactory().get(
        "/patients/?q=a", REMOTE_ADDR="10.9.8.7", HTTP_USER_AGENT='=HYPERLINK("x")'
    )
    request.user = staff
    with request_context(request):
        record_list(patient_ids=[ben.pk, ana.pk], query="q=a", what="patient list")
        record_list(patient_ids=[ben.pk], query="q=ben", what="patient list")
    record_access(action="view", actor=practitioner, patient_id=ana.pk, obj=ana)
    record_access(action="update", actor=practitioner, patient_id=ben.pk, obj=ben, detail="changed email")
    record_access(action="update", actor=staff, patient_id=ana.pk, obj=ana, detail="-1+1 changed phone")
    return ana, ben


def test_the_report_lists_the_patients_reads_and_changes_and_nobody_elses(
    client_for, admin_user, two_patients, practitioner, staff
):
    ana, _ = two_patients
    response = client_for(admin_user).get(f"/admin/patients/patient/{ana.pk}/access-report/")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert f"access-report-patient-{ana.pk}.csv" in response["Content-Disposition"]
    rows = rows_of(response)
    assert [(r["who"], r["action"], r["detail"]) for r in rows] == [
        (str(staff), "Listed", "q=a"),
        (str(practitioner), "Viewed", ""),
        (str(staff), "Updated", "'-1+1 changed phone"),
        (str(admin_user), "Exported", "access report (CSV) in admin"),
    ]
    assert rows[0]["from address"] == "10.9.8.7"
    assert rows[0]["user agent"] == '\'=HYPERLINK("x")'
    assert rows[0]["page"] == "/patients/?q=a"
    assert "changed email" not in response.content.decode()


def test_the_download_is_itself_on_the_trail(client_for, admin_user, two_patients):
    ana, _ = two_patients
    client_for(admin_user).get(f"/admin/patients/patient/{ana.pk}/access-report/")
    event = AccessEvent.objects.order_by("-seq").first()
    assert (event.action, event.patient_id, event.actor) == ("export", ana.pk, admin_user)


def test_only_admins_download_a_report(client_for, staff, practitioner, two_patients):
    ana, _ = two_patients
    for user in (staff, practitioner):
        response = client_for(user).get(f"/admin/patients/patient/{ana.pk}/access-report/")
        assert response.status_code == 302
        assert "/admin/login/" in response["Location"]


def test_the_patients_admin_page_links_to_the_report(client_for, admin_user, two_patients):
    ana, _ = two_patients
    body = client_for(admin_user).get(f"/admin/patients/patient/{ana.pk}/change/").content.decode()
    assert f"/admin/patients/patient/{ana.pk}/access-report/" in body


@pytest.mark.parametrize(
    ("cell", "safe"),
    [
        ("=1+1", "'=1+1"),
        ("+33 1 23", "'+33 1 23"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("Dr. Moss", "Dr. Moss"),
        (None, ""),
    ],
)
def test_cells_that_look_like_formulas_are_neutralised(cell, safe):
    assert csv_safe(cell) == safe
