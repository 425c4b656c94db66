"""Who and where reach the audit trail from the request, a task or a command — never as an argument.

``AuditContextMiddleware`` puts the request's user, address, user agent and path in a context variable
for the length of the request; a Celery task or a management command sets a ``system: …`` one; and
``record_access`` reads it. These tests drive real requests and check every row they write.
"""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.http import HttpResponse
from django.test import RequestFactory
from django.urls import include, path

from accounts.audit import NO_CONTEXT, current_audit_context, record_access
from accounts.middleware import AuditContextMiddleware
from accounts.models import AccessEvent
from compliance import tasks as compliance_tasks
from journeys.models import CheckIn, Journey, Program, Stage, Visit
from journeys.services.stages import journey_start
from nudges.models import Nudge
from patients import services as patient_services
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 4, 14, 16, 0, tzinfo=UTC)  # Tuesday, 12:00 in New York (the clinic)
ADDRESS = "198.51.100.7"
AGENT = "Mozilla/5.0 (audit context test)"


def boom(request):
    record_access(action=AccessEvent.Action.VIEW, patient_id=1, detail="just before it broke")
    raise RuntimeError("the view broke")


urlpatterns = [path("boom/", boom), path("", include("alliance_crm.urls"))]


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def patient(db):
    return PatientFactory(first_name="Renée", last_name="Côté", time_zone="America/New_York")


def request_as(client, user, method: str, url: str, data: dict | None = None) -> list[AccessEvent]:
    """Make one request as ``user`` and return the audit rows it wrote (at least one)."""
    client.force_login(user)
    before = AccessEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    send = client.get if method == "GET" else client.post
    response = send(url, data or {}, REMOTE_ADDR=ADDRESS, HTTP_USER_AGENT=AGENT)
    assert response.status_code in (200, 302), (url, response.status_code)
    events = list(AccessEvent.objects.filter(id__gt=before).order_by("id"))
    assert events, f"{method} {url} wrote nothing to the audit trail"
    return events


def assert_from_the_request(events: list[AccessEvent], user, url: str) -> None:
    for event in events:
        where = (event.action, event.detail)
        assert event.ip_address == ADDRESS, where
        assert event.path == url, where
        assert event.user_agent == AGENT, where
        assert event.actor == user, where


def failed_nudge(patient, status: str) -> Nudge:
    return Nudge.objects.create(
        patient=patient,
        kind="checkin_request",
        channel="email",
        send_at=NOW - timedelta(days=1),
        status=status,
        dedupe_key=f"test:{status}:{patient.pk}",
    )


# --- (a) every row a staff request writes carries its address and path -----------------------------


def test_every_audit_row_of_a_staff_request_carries_its_address_and_path(
    client, staff, practitioner, admin_user, patient
):
    program = Program.objects.create(name="Gut reset", weeks=12)
    patient_services.care_team_set_lead(patient=patient, user=practitioner, actor=admin_user)
    retry, review = failed_nudge(patient, "failed"), failed_nudge(patient, "unknown")

    def check(user, method, url, data=None):
        events = request_as(client, user, method, url, data)
        assert_from_the_request(events, user, url)
        return events

    check(staff, "GET", f"/patients/{patient.pk}/")
    check(staff, "POST", f"/patients/{patient.pk}/consent/", {"channel": "email", "granted": "yes"})
    check(
        staff, "POST", f"/nudges/patient/{patient.pk}/send/", {"channel": "email", "message": "Labs are in."}
    )
    check(staff, "POST", f"/nudges/{retry.pk}/retry/")
    check(staff, "POST", f"/nudges/{review.pk}/reviewed/")
    check(staff, "POST", f"/patients/{patient.pk}/journey/start/", {"program": program.pk})
    journey = Journey.objects.get(patient=patient)
    check(staff, "POST", f"/journeys/{journey.pk}/move/", {"to_stage": "discovery"})
    check(
        staff,
        "POST",
        f"/patients/{patient.pk}/visits/new/",
        {"kind": "discovery", "practitioner": practitioner.pk, "starts_at": "2026-04-21T10:00"},
    )
    visit = Visit.objects.get(patient=patient)
    check(staff, "GET", f"/visits/{visit.pk}/")
    check(practitioner, "POST", f"/visits/{visit.pk}/notes/new/", {"title": "Discovery", "body": "Tired."})
    check(practitioner, "POST", f"/journeys/{journey.pk}/blueprint/start/", {"template": ""})
    check(admin_user, "GET", f"/admin/patients/patient/{patient.pk}/change/")  # admin names no actor itself


def test_a_refused_read_is_audited_with_the_address_too(client, staff, practitioner, patient):
    patient_services.care_team_set_lead(patient=patient, user=practitioner, actor=practitioner)
    request_as(client, staff, "POST", f"/patients/{patient.pk}/journey/start/")
    journey = Journey.objects.get(patient=patient)
    client.force_login(staff)
    client.post(
        f"/patients/{patient.pk}/visits/new/",
        {"kind": "discovery", "practitioner": practitioner.pk, "starts_at": "2026-04-21T10:00"},
    )
    client.force_login(practitioner)
    client.post(f"/visits/{Visit.objects.get().pk}/notes/new/", {"title": "Discovery", "body": "Tired."})
    note = journey.visits.get().notes.get()

    client.force_login(staff)
    url = f"/visit-notes/{note.pk}/"
    response = client.get(url, REMOTE_ADDR=ADDRESS, HTTP_USER_AGENT=AGENT)

    assert response.status_code == 403
    denied = AccessEvent.objects.get(action="denied")
    assert_from_the_request([denied], staff, url)


# --- (b) a task's or a command's rows name the system and carry no address -------------------------


@pytest.fixture
def closed_checkin(patient):
    journey = Journey.objects.create(patient=patient, stage=Stage.CHECK_INS)
    return CheckIn.objects.create(journey=journey, due_on=NOW.date() - timedelta(days=5), closes_at=NOW)


def test_a_beat_tasks_audit_rows_name_the_task_and_carry_no_address(closed_checkin):
    compliance_tasks.mark_missed.apply()  # run as a worker runs it: through Celery's tracer

    [event] = AccessEvent.objects.filter(object_id=str(closed_checkin.pk), object_type__model="checkin")
    assert event.actor is None
    assert event.actor_label == "system: beat task compliance.mark_missed (missed check-in sweep)"
    assert (event.ip_address, event.path, event.user_agent) == (None, "", "")
    assert current_audit_context() is NO_CONTEXT


def test_a_command_audit_rows_name_the_command(closed_checkin, capsys):
    call_command("detect_faltering")

    event = AccessEvent.objects.get(object_id=str(closed_checkin.pk), object_type__model="checkin")
    assert event.actor_label == "system: command detect_faltering (missed check-in sweep)"
    assert (event.ip_address, event.path) == (None, "")


def test_a_task_run_eagerly_inside_a_request_names_the_task_not_the_request(staff, closed_checkin):
    request = RequestFactory().get("/nudges/", REMOTE_ADDR=ADDRESS)
    request.user = staff

    def get_response(request):
        compliance_tasks.mark_missed()
        return HttpResponse()

    AuditContextMiddleware(get_response)(request)

    event = AccessEvent.objects.get(object_type__model="checkin")
    assert event.actor_label.startswith("system: beat task compliance.mark_missed")
    assert (event.actor, event.ip_address, event.path) == (None, None, "")


# --- (c) the context ends with the request, however it ends ----------------------------------------


def test_a_service_called_after_a_request_has_no_address(client, staff, patient):
    request_as(client, staff, "GET", f"/patients/{patient.pk}/")

    event = record_access(action=AccessEvent.Action.VIEW, actor=staff, patient_id=patient.pk)
    consent = patient_services.consent_record(
        patient=patient, channel="email", granted=True, via="test", actor=staff
    )

    assert current_audit_context() is NO_CONTEXT
    assert (event.ip_address, event.path, event.user_agent) == (None, "", "")
    row = AccessEvent.objects.get(object_id=str(consent.pk), object_type__model="consentevent")
    assert (row.actor, row.ip_address, row.path) == (staff, None, "")


@pytest.mark.urls(__name__)
def test_the_context_is_cleared_when_the_view_raises(client, staff):
    client.force_login(staff)
    client.raise_request_exception = False

    response = client.get("/boom/", REMOTE_ADDR=ADDRESS)

    assert response.status_code == 500
    during = AccessEvent.objects.get(detail="just before it broke")
    assert (during.ip_address, during.path, during.actor) == (ADDRESS, "/boom/", staff)
    assert current_audit_context() is NO_CONTEXT
    assert record_access(action=AccessEvent.Action.VIEW, patient_id=1).ip_address is None


def test_the_middleware_clears_the_context_when_an_exception_passes_through_it(staff):
    request = RequestFactory().get("/patients/", REMOTE_ADDR=ADDRESS)
    request.user = staff
    seen = []

    def get_response(request):
        seen.append(current_audit_context())
        raise RuntimeError("the view broke")

    with pytest.raises(RuntimeError):
        AuditContextMiddleware(get_response)(request)

    assert (seen[0].actor, seen[0].ip_address, seen[0].path) == (staff, ADDRESS, "/patients/")
    assert current_audit_context() is NO_CONTEXT


def test_an_explicit_actor_wins_over_the_requests_user(staff, practitioner, patient):
    journey_start(patient=patient, actor=practitioner)  # outside any request: no address
    request = RequestFactory().get("/x/", REMOTE_ADDR=ADDRESS)
    request.user = staff

    def get_response(request):
        return HttpResponse(record_access(action="view", actor=practitioner, patient_id=patient.pk).pk)

    event = AccessEvent.objects.get(pk=int(AuditContextMiddleware(get_response)(request).content))
    assert (event.actor, event.ip_address, event.path) == (practitioner, ADDRESS, "/x/")
    started = AccessEvent.objects.get(detail="journey started at inquiry")
    assert (started.actor, started.ip_address) == (practitioner, None)
