"""The alerts list: one row a patient, a keyset page at a time, the same queries however many alerts are open
and however deep the page."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from compliance.models import Alert
from compliance.selectors import OPEN_ROW_COLUMNS
from patients.models import CareTeamMember
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db

START = datetime(2026, 3, 1, 9, tzinfo=UTC)


def open_alerts(n, lead, *, start=0):
    for i, patient in enumerate(PatientFactory.create_batch(n), start=start):
        CareTeamMember.objects.create(patient=patient, user=lead, role="lead")
        Alert.objects.create(
            patient=patient, reason="low_adherence", detail="55%", opened_at=START + timedelta(hours=i)
        )


def shown(client, query=""):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(f"/alerts/{query}")
    assert response.status_code == 200
    return len(captured), response.context["page"]


def test_the_list_costs_the_same_queries_for_5_and_50_alerts(client_for, staff, practitioner):
    client = client_for(staff)
    open_alerts(5, practitioner)
    few, page = shown(client)
    assert len(page.object_list) == 5
    open_alerts(45, practitioner, start=5)
    many, page = shown(client)
    assert len(page.object_list) == 50 and many == few
    # session, user, the capped count (the navigation's too), the page, the recently resolved, the audit row
    # (and on PostgreSQL its chain's lock)
    assert few <= (9 if connection.vendor == "postgresql" else 8)


def test_a_deep_page_costs_what_page_1_costs_and_shows_the_next_alerts(client_for, staff, practitioner):
    client = client_for(staff)
    open_alerts(120, practitioner)
    first_queries, first = shown(client)
    opened = OPEN_ROW_COLUMNS.index("opened_at")
    assert [a[opened] for a in first.object_list] == sorted(a[opened] for a in first.object_list)
    second_queries, second = shown(client, f"?after={first.next_cursor}")
    last_queries, last = shown(client, "?page=last")
    assert first_queries == second_queries == last_queries
    assert second.object_list[0][opened] == first.object_list[-1][opened] + timedelta(hours=1)
    assert first.next_cursor == first.object_list[-1][0]  # the row's id
    assert not last.has_next and len(last.object_list) == 50
    assert last.object_list[-1][opened] == START + timedelta(hours=119)
    assert first.count == 120 and not first.capped


def test_the_leads_name_is_read_unsorted_one_current_lead_a_patient():
    """A patient has one current lead (``careteam_one_current_lead``): the lead's name is read with no ORDER BY
    (the care team's default order sorted each alert's, each patient's and each pipeline card's lead: on the
    pipeline at 100,000 patients its cards' statement 7.7 -> 3.9 ms)."""
    from compliance.models import Alert
    from compliance.selectors import _with_lead
    from journeys.models import Journey
    from journeys.selectors.pipeline import _lead_name
    from patients.models import Patient

    cards = Journey.objects.annotate(lead_name=_lead_name())
    for queryset in (_with_lead(Alert.objects.all()), Patient.objects.with_lead(), cards):
        sql = str(queryset.query)
        lead = sql[sql.index("patients_careteammember") :]
        assert 'role" = lead) LIMIT 1)' in lead.replace("'", ""), lead
        assert "ORDER BY" not in lead.split("LIMIT 1)")[0], lead
