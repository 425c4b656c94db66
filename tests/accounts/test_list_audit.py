"""Every staff page that shows patients writes one ``list`` row: who, the query, the ids of the patients on
the page, in the page's order, taken from the rows the page fetched anyway (one INSERT, nothing re-read)."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import AccessEvent
from compliance.models import Alert
from journeys.models import Journey, Stage
from nudges.models import Nudge
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def three(staff):
    patients = [
        PatientFactory(first_name=first, last_name=last)
        for first, last in (("Ana", "Alvarez"), ("Ben", "Brook"), ("Cleo", "Chu"))
    ]
    for n, patient in enumerate(patients):
        Journey.objects.create(patient=patient, stage=Stage.INQUIRY)
        Alert.objects.create(patient=patient, reason="low_adherence", detail="2 weeks")
        Nudge.objects.create(
            patient=patient,
            kind="checkin_request",
            channel="email",
            send_at=timezone.now() - timedelta(minutes=n),
            status=Nudge.Status.FAILED,
            dedupe_key=f"list-audit:{n}",
        )
    return patients


def get_audited(client, url, params=None):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, params or {})
    assert response.status_code == 200
    inserts = [q["sql"] for q in queries if q["sql"].startswith('INSERT INTO "accounts_accessevent"')]
    assert len(inserts) == 1, f"{url} wrote {len(inserts)} audit rows"
    return AccessEvent.objects.order_by("-seq").first()


def test_the_patient_list_and_its_search_record_the_query_and_who_was_shown(client_for, staff, three):
    ana, ben, cleo = three
    client = client_for(staff)

    event = get_audited(client, "/patients/")
    assert (event.action, event.actor, event.object_repr) == ("list", staff, "patient list")
    assert event.patient_ids == [ana.pk, ben.pk, cleo.pk]

    event = get_audited(client, "/patients/", {"q": "brook"})
    assert event.patient_ids == [ben.pk]
    assert event.detail == "q=brook"
    assert event.path == "/patients/?q=brook"

    event = get_audited(client, "/patients/", {"q": "nobody"})
    assert event.patient_ids == []


@pytest.mark.parametrize(
    ("url", "what"),
    [
        ("/", "today"),
        ("/pipeline/", "pipeline"),
        ("/nudges/", "outbox"),
        ("/nudges/review/", "messages to review"),
        ("/alerts/", "falter alerts"),
    ],
)
def test_each_dashboard_page_records_the_patients_it_shows(client_for, staff, three, url, what):
    event = get_audited(client_for(staff), url)
    assert (event.action, event.object_repr) == ("list", what)
    assert sorted(event.patient_ids) == sorted(p.pk for p in three)


def test_insights_names_no_patient_but_is_on_the_trail(client_for, staff, three):
    event = get_audited(client_for(staff), "/insights/")
    assert (event.action, event.object_repr, event.patient_ids) == ("list", "insights", [])


def test_a_long_query_is_cut_to_fit(client_for, staff, three):
    event = get_audited(client_for(staff), "/patients/", {"q": "x" * 400})
    assert event.detail == ("q=" + "x" * 400)[:255]


def test_a_list_row_costs_the_page_one_insert_and_no_second_read_of_its_patients(client_for, staff, three):
    client = client_for(staff)
    client.get("/patients/")  # warm the session and content types
    with CaptureQueriesContext(connection) as queries:
        client.get("/patients/")
    patient_reads = [
        q["sql"] for q in queries if 'FROM "patients_patient"' in q["sql"] and "COUNT" not in q["sql"]
    ]
    # the page is paged over ids first (accounts.paging.page_rows), then its rows are fetched by id: two
    # reads, and the audit row is written from the ids already in hand, with no read of its own
    id_page = [sql for sql in patient_reads if sql.startswith('SELECT "patients_patient"."id" AS "pk" FROM')]
    assert len(id_page) == 1
    rows = [sql for sql in patient_reads if sql not in id_page]
    assert len(rows) == 1
    # by id: the page's ids as one array (accounts.queries.AnyOf), or as a list
    assert '"patients_patient"."id" = ANY(' in rows[0] or '"patients_patient"."id" IN (' in rows[0]
    audit = [q for q in queries if "accounts_accessevent" in q["sql"] or "pg_advisory" in q["sql"]]
    assert len(audit) <= 3  # the writer lock (PostgreSQL), the chain's last row, the INSERT
