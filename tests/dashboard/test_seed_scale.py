"""seed_scale: a deterministic large clinic; the staff pages render on it in a query count that does not grow."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.audit import record_access
from accounts.middleware import SessionPolicyMiddleware
from accounts.models import AccessEvent
from compliance.models import Alert, ComplianceLog
from journeys.models import CheckIn, Journey, Stage
from nudges.models import Nudge
from patients.models import CareTeamMember, Patient

NOW = "2026-11-02T09:00:00+00:00"

STAFF_PAGES = [
    ("dashboard:today", ""),
    ("dashboard:today", "?scope=practice"),
    ("dashboard:schedule", ""),
    ("dashboard:schedule", "?view=week&practitioner="),
    ("patients:list", ""),
    ("patients:list", "?page=2"),
    ("patients:list", "?q=example"),  # every seeded email: a search with rows at 5 patients and at 50
    ("dashboard:pipeline", ""),
    ("nudges:outbox", ""),
    ("nudges:outbox", "?page=2"),
    ("nudges:outbox", "?view=upcoming"),
    ("nudges:outbox", "?view=history&page=2"),
    ("nudges:outbox", "?view=needs"),
    ("nudges:outbox", "?view=all"),
    ("nudges:review", ""),
    ("compliance:alerts", ""),
    ("dashboard:insights", ""),
]


def seed(patients: int, seed: int = 13) -> str:
    out = StringIO()
    call_command("seed_scale", patients=patients, seed=seed, now=NOW, chunk=20, stdout=out)
    return out.getvalue()


def snapshot():
    return (
        list(Patient.objects.order_by("pk").values_list("last_name", "time_zone", "archived")),
        list(Journey.objects.order_by("pk").values_list("stage", "started_at")),
        Nudge.objects.count(),
        ComplianceLog.objects.count(),
    )


@pytest.mark.django_db
def test_the_seed_makes_a_clinic_in_every_stage_with_every_kind_of_row():
    seed(50)
    assert Patient.objects.count() == 50
    stages = set(Journey.objects.values_list("stage", flat=True))
    assert {Stage.INQUIRY, Stage.CHECK_INS, Stage.GRADUATED} <= stages
    assert len(set(Patient.objects.values_list("time_zone", flat=True))) >= 3
    assert CareTeamMember.objects.filter(role="lead").count() >= 40
    assert ComplianceLog.objects.exists() and Alert.objects.exists()
    assert CheckIn.objects.filter(status=CheckIn.Status.ANSWERED).exists()
    statuses = set(Nudge.objects.values_list("status", flat=True))
    assert {Nudge.Status.PENDING, Nudge.Status.SENT} <= statuses
    assert Nudge.objects.filter(status=Nudge.Status.PENDING, send_at__gt=NOW).exists()
    assert all(p.search_text == p.build_search_text() for p in Patient.objects.all())


@pytest.mark.django_db
def test_the_same_seed_makes_the_same_clinic(django_db_blocker):
    seed(30, seed=7)
    first = snapshot()
    for model in (ComplianceLog, Alert, Nudge, Patient):
        model.objects.all().delete()
    seed(30, seed=7)
    again = snapshot()
    assert again[0] == first[0] and [j[0] for j in again[1]] == [j[0] for j in first[1]]
    assert again[2:] == first[2:]


@pytest.mark.django_db
def test_the_seeded_audit_rows_continue_the_hash_chain_and_verify_audit_holds():
    record_access(action=AccessEvent.Action.VIEW, actor_label="before the seed", detail="an earlier row")
    seed(12)
    seed(8, seed=14)  # a second run continues from the first run's last row
    events = AccessEvent.objects.order_by("seq")
    assert events.count() > 21
    assert list(events.values_list("seq", flat=True)) == list(range(1, events.count() + 1))
    out = StringIO()
    call_command("verify_audit", stdout=out)
    assert "The audit trail holds" in out.getvalue()


@pytest.mark.django_db
def test_a_dry_run_writes_nothing():
    output = StringIO()
    call_command("seed_scale", patients=20, now=NOW, dry_run=True, stdout=output)
    assert "Generated 20 patients" in output.getvalue()
    assert not Patient.objects.exists()


def page_queries(client, name: str, query: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(reverse(name) + query)
    assert response.status_code == 200, (name, query)
    return len(captured.captured_queries)


@pytest.mark.django_db
@pytest.mark.parametrize("user", ["staff", "practitioner"])
def test_the_staff_pages_cost_the_same_queries_for_5_and_50_patients(client_for, request, user, monkeypatch):
    # The session's "last seen" write lands every RESOLUTION_SECONDS: on a slow machine it fell inside one of the
    # measured requests and counted as that page's own queries.
    monkeypatch.setattr(SessionPolicyMiddleware, "RESOLUTION_SECONDS", 10**9)
    client = client_for(request.getfixturevalue(user))
    seed(5)
    if not Alert.objects.filter(resolved_at__isnull=True).exists():  # an empty list skips its page query
        journey = Journey.objects.first()
        Alert.objects.create(patient=journey.patient, journey=journey, reason="low_adherence", detail="55%")
    small = {(name, query): page_queries(client, name, query) for name, query in STAFF_PAGES}
    seed(45, seed=14)
    large = {(name, query): page_queries(client, name, query) for name, query in STAFF_PAGES}
    assert large == small


@pytest.mark.django_db
def test_the_patient_page_costs_the_same_queries_for_a_light_and_a_heavy_history(client_for, practitioner):
    seed(50)
    client = client_for(practitioner)
    light = Patient.objects.filter(journeys__stage=Stage.INQUIRY).first()
    heavy = Patient.objects.filter(journeys__stage=Stage.CHECK_INS).order_by("-nudges__send_at").first()
    counts = []
    for patient in (light, heavy):
        with CaptureQueriesContext(connection) as captured:
            response = client.get(reverse("dashboard:patient", args=[patient.pk]))
        assert response.status_code == 200
        counts.append(len(captured.captured_queries))
    assert counts[1] <= counts[0] + 3  # a plan and check-ins add their own panels' queries, not per row


@pytest.mark.django_db
def test_the_admin_patient_list_counts_once_and_capped(client_for, admin_user, django_assert_max_num_queries):
    seed(50)
    client = client_for(admin_user)
    with django_assert_max_num_queries(12):
        response = client.get(reverse("admin:patients_patient_changelist"))
    assert response.status_code == 200


@pytest.mark.django_db
def test_the_alerts_list_pages_and_the_pipeline_shows_all_closed_on_request(client_for, staff):
    seed(50)
    client = client_for(staff)
    assert client.get(reverse("compliance:alerts") + "?page=2").status_code == 200
    recent = client.get(reverse("dashboard:pipeline"))
    everything = client.get(reverse("dashboard:pipeline") + "?closed=all")
    assert "show all" in recent.text and "recent only" in everything.text
    graduated = Journey.objects.filter(stage=Stage.GRADUATED).count()
    assert f'at Graduated">{graduated}<' in everything.text.replace("patients at", "at").replace(
        "patient at", "at"
    )
