"""The patient list: stages, column sorting with aria-sort, page sizes, a filter bar that reads bad input
kindly, and its CSV download (audited as an export, spreadsheet formulas neutralised, streamed)."""

import csv
import io
import re
from datetime import UTC, datetime

import pytest
import time_machine
from django.db import connection
from django.http import StreamingHttpResponse
from django.test.utils import CaptureQueriesContext

from accounts.models import AccessEvent
from journeys.models import Journey, Stage
from journeys.selectors import patients as patient_reads
from patients.models import CareTeamMember
from tests.factories import PatientFactory, UserFactory

pytestmark = pytest.mark.django_db


def journey(patient, stage, *, ended=False, started=None):
    return Journey.objects.create(
        patient=patient,
        stage=stage,
        started_at=started or datetime(2026, 1, 1, tzinfo=UTC),
        ended_at=datetime(2026, 6, 1, tzinfo=UTC) if ended else None,
    )


@pytest.fixture
def clinic(practitioner):
    """Six patients, one per kind of stage, added a day apart; two leads."""
    other = UserFactory(username="dr.adams", display_name="Dr. Adams", role="practitioner")
    people = {}
    for day, (last, stage, ended, lead) in enumerate(
        [
            ("Ames", Stage.CHECK_INS, False, practitioner),
            ("Baker", Stage.INQUIRY, False, other),
            ("Chen", Stage.GRADUATED, True, practitioner),
            ("Diaz", Stage.ADVOCATE, True, other),
            ("Evans", None, False, None),
            ("Fox", Stage.PAUSED, False, practitioner),
        ]
    ):
        with time_machine.travel(datetime(2026, 3, 1 + day, 12, tzinfo=UTC), tick=False):
            patient = PatientFactory(first_name="Pat", last_name=last)
        if stage:
            journey(patient, stage, ended=ended)
        if lead:
            CareTeamMember.objects.create(patient=patient, user=lead, role="lead")
        people[last] = patient
    # Chen came back: an old graduated journey is not their stage while a new one is open.
    journey(people["Chen"], Stage.DISCOVERY, started=datetime(2026, 7, 1, tzinfo=UTC))
    return people


def names(response):
    return [row.patient.last_name for row in response.context["page"].object_list]


def header(body, key):
    return re.search(rf'<th scope="col"\s+id="sort-{key}"[^>]*>', body).group(0)


def test_each_patient_shows_their_current_stage(client_for, staff, clinic):
    response = client_for(staff).get("/patients/")
    stages = {row.patient.last_name: row.stage_label for row in response.context["page"].object_list}
    assert stages == {
        "Ames": "Check-ins",
        "Baker": "Inquiry",
        "Chen": "Discovery call",
        "Diaz": "Advocate",
        "Evans": "",
        "Fox": "Paused",
    }
    assert "No journey yet" in response.content.decode()


@pytest.mark.parametrize(
    ("stage", "expected"),
    [
        ("check_ins", ["Ames"]),
        ("discovery", ["Chen"]),
        ("graduated", []),  # Chen's graduated journey is behind them: they are in discovery again
        ("advocate", ["Diaz"]),
        ("paused", ["Fox"]),
        ("none", ["Evans"]),
    ],
)
def test_the_list_filters_by_stage(client_for, staff, clinic, stage, expected):
    assert names(client_for(staff).get(f"/patients/?stage={stage}")) == expected


def test_the_list_filters_by_stage_and_lead_together(client_for, staff, practitioner, clinic):
    response = client_for(staff).get(f"/patients/?lead={practitioner.pk}&stage=paused")
    assert names(response) == ["Fox"]


@pytest.mark.parametrize(
    ("sort", "expected", "aria"),
    [
        ("name", ["Ames", "Baker", "Chen", "Diaz", "Evans", "Fox"], ("name", "ascending")),
        ("-name", ["Fox", "Evans", "Diaz", "Chen", "Baker", "Ames"], ("name", "descending")),
        ("added", ["Ames", "Baker", "Chen", "Diaz", "Evans", "Fox"], ("added", "ascending")),
        ("-added", ["Fox", "Evans", "Diaz", "Chen", "Baker", "Ames"], ("added", "descending")),
        ("stage", ["Baker", "Chen", "Ames", "Diaz", "Fox", "Evans"], ("stage", "ascending")),
        ("-stage", ["Evans", "Fox", "Diaz", "Ames", "Chen", "Baker"], ("stage", "descending")),
        ("lead", ["Baker", "Diaz", "Ames", "Chen", "Fox", "Evans"], ("lead", "ascending")),
        ("-newest", None, None),
    ],
)
def test_column_headers_sort_the_list_and_say_so(client_for, staff, clinic, sort, expected, aria):
    response = client_for(staff).get(f"/patients/?sort={sort}")
    body = response.content.decode()
    if expected is None:  # an order we do not know: the usual one, and a message
        assert names(response)[0] == "Ames"
        assert "is not one of the choices, so it was left out" in body
        return
    assert names(response) == expected
    key, direction = aria
    assert f'aria-sort="{direction}"' in header(body, key)
    assert body.count("aria-sort=") == 1  # only the sorted column says it is sorted


def test_a_header_sorts_ascending_then_descending_and_keeps_the_filters(
    client_for, staff, practitioner, clinic
):
    body = client_for(staff).get(f"/patients/?lead={practitioner.pk}&sort=stage&page=1").content.decode()
    stage_link = re.search(r'id="sort-stage"[^>]*>\s*<a class="sort-link" href="([^"]+)"', body).group(1)
    name_link = re.search(r'id="sort-name"[^>]*>\s*<a class="sort-link" href="([^"]+)"', body).group(1)
    assert (
        "sort=-stage" in stage_link and f"lead={practitioner.pk}" in stage_link and "page" not in stage_link
    )
    assert "sort=name" in name_link
    assert 'type="hidden" name="sort" value="stage"' in body  # Find keeps the order


def test_older_links_sorted_newest_first_still_work(client_for, staff, clinic):
    assert names(client_for(staff).get("/patients/?sort=newest"))[0] == "Fox"


def test_the_stage_and_lead_orders_are_bounded(client_for, staff, clinic, monkeypatch):
    monkeypatch.setattr(patient_reads, "SORT_BOUND", 3)
    monkeypatch.setattr("dashboard.patient_list.SORT_BOUND", 3)
    client = client_for(staff)

    response = client.get("/patients/?sort=-stage")
    assert names(response) == ["Ames", "Baker", "Chen", "Diaz", "Evans", "Fox"]  # name order, and why
    body = response.content.decode()
    assert "Sorting by stage works on up to 3 patients at a time" in body
    assert 'aria-sort="ascending"' in header(body, "name")

    narrowed = client.get("/patients/?sort=-stage&stage=paused")  # under the bound: sorted as asked
    assert names(narrowed) == ["Fox"] and "works on up to" not in narrowed.content.decode()


def test_a_refused_order_runs_the_queries_a_sorted_one_does(
    client_for, staff, clinic, monkeypatch, django_assert_num_queries
):
    """Over the bound the order is refused: its one capped count is also the list's count, so a clinic with
    many patients at a stage runs the queries a small one does (13 at S and 14 at M before)."""
    monkeypatch.setattr(patient_reads, "SORT_BOUND", 3)
    monkeypatch.setattr("dashboard.patient_list.SORT_BOUND", 3)
    client = client_for(staff)
    client.get("/patients/?sort=lead&stage=paused")  # sessions, caches and the like, once
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as sorted_:
        assert names(client.get("/patients/?sort=lead&stage=paused")) == ["Fox"]
    with CaptureQueriesContext(connection) as refused:
        assert "works on up to 3" in client.get("/patients/?sort=lead").content.decode()
    assert len(refused) == len(sorted_)


@pytest.mark.parametrize(("per_page", "shown"), [("", 25), ("25", 25), ("50", 50), ("100", 60), ("7", 25)])
def test_the_list_shows_25_50_or_100_rows_a_page(client_for, staff, per_page, shown):
    PatientFactory.create_batch(60)
    response = client_for(staff).get(f"/patients/?per_page={per_page}")
    assert len(response.context["page"].object_list) == shown
    if per_page == "7":
        assert "Rows: “7” is not one of the choices, so it was left out." in response.content.decode()


def test_bad_filter_input_gets_a_message_and_the_rest_still_applies(client_for, staff, practitioner, clinic):
    response = client_for(staff).get(f"/patients/?stage=nowhere&lead={practitioner.pk}&source=%3Cb%3E")
    body = response.content.decode()
    assert response.status_code == 200
    assert "Stage: “nowhere” is not one of the choices, so it was left out." in body
    assert "“&lt;b&gt;” is not one of the choices" in body
    assert names(response) == ["Ames", "Chen", "Fox"]  # the lead filter still applies


def test_the_filter_bar_labels_every_field(client_for, staff):
    body = client_for(staff).get("/patients/").content.decode()
    for name in ("q", "stage", "lead", "source", "archived", "per_page"):
        assert f'for="id_{name}"' in body and f'id="id_{name}"' in body


@pytest.mark.parametrize("sort", ["name", "stage"])
def test_the_list_costs_the_same_queries_for_5_and_50_patients(client_for, staff, practitioner, sort):
    client = client_for(staff)

    def add(n):
        for patient in PatientFactory.create_batch(n):
            journey(patient, Stage.CHECK_INS)
            CareTeamMember.objects.create(patient=patient, user=practitioner, role="lead")

    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert client.get(f"/patients/?per_page=50&sort={sort}").status_code == 200
        return len(captured)

    add(5)
    few = queries()
    add(45)
    assert queries() == few


@pytest.mark.parametrize("sort", ["name", "-added", "stage"])
def test_a_deep_page_and_the_last_page_cost_the_queries_page_1_costs(client_for, staff, practitioner, sort):
    for patient in PatientFactory.create_batch(60):
        journey(patient, Stage.CHECK_INS)
        CareTeamMember.objects.create(patient=patient, user=practitioner, role="lead")
    client = client_for(staff)

    def queries(query):
        with CaptureQueriesContext(connection) as captured:
            response = client.get(f"/patients/?per_page=25&sort={sort}{query}")
        assert response.status_code == 200 and len(response.context["page"].object_list) == 25
        return len(captured), response.context["page"]

    first_count, first = queries("")
    second_count, second = queries(f"&after={first.next_cursor}")
    last_count, last = queries("&page=last")
    back_count, back = queries(f"&before={second.previous_cursor}")
    assert first_count == second_count == last_count == back_count
    assert [row.pk for row in back.object_list] == [row.pk for row in first.object_list]
    assert not set(row.pk for row in first.object_list) & set(row.pk for row in second.object_list)
    assert not last.has_next and first.has_next and not first.has_previous


def test_no_page_reads_past_rows_with_an_offset(client_for, staff):
    PatientFactory.create_batch(30)
    client = client_for(staff)
    first = client.get("/patients/").context["page"]
    with CaptureQueriesContext(connection) as captured:
        client.get(f"/patients/?after={first.next_cursor}")
    assert not [q["sql"] for q in captured.captured_queries if "OFFSET" in q["sql"].upper()]


# --- The CSV download ---------------------------------------------------------------------------------


def download(client, query=""):
    response = client.get(f"/patients/export.csv{query}")
    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)  # sent as it is read, never held whole
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff")  # Excel reads it as UTF-8
    return response, list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))


def test_the_csv_is_the_filtered_sorted_list_every_page_of_it(client_for, staff, practitioner, clinic):
    PatientFactory.create_batch(30, last_name="Zed")
    response, rows = download(client_for(staff))
    assert response["Content-Disposition"].startswith('attachment; filename="patients-')
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert len(rows) == 36  # past the first page
    ames = rows[0]
    assert (ames["legal last name"], ames["stage"], ames["lead practitioner"]) == (
        "Ames",
        "Check-ins",
        "Dr. Bob Moss",
    )

    _, narrowed = download(client_for(staff), f"?lead={practitioner.pk}&sort=-stage")
    assert [row["legal last name"] for row in narrowed] == ["Fox", "Ames", "Chen"]


def test_the_csv_download_is_audited_as_an_export_naming_every_patient(
    client_for, staff, clinic, monkeypatch
):
    monkeypatch.setattr("accounts.audit.EXPORT_IDS_PER_ROW", 4)
    download(client_for(staff), "?sort=-name")
    events = list(AccessEvent.objects.filter(action="export").order_by("seq"))
    assert [event.object_repr for event in events] == [
        "patient list CSV (part 1 of 2)",
        "patient list CSV (part 2 of 2)",
    ]
    order = ["Fox", "Evans", "Diaz", "Chen", "Baker", "Ames"]
    assert [pk for event in events for pk in event.patient_ids] == [clinic[name].pk for name in order]
    assert all(event.actor == staff and event.detail == "sort=-name" for event in events)


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_the_csv_neutralises_spreadsheet_formulas(client_for, staff, start):
    PatientFactory(
        first_name=f'{start}HYPERLINK("http://x.invalid")', last_name="Smith", pronouns=f"{start}1+1"
    )
    _, rows = download(client_for(staff))
    assert rows[0]["legal first name"] == f'\'{start}HYPERLINK("http://x.invalid")'
    assert rows[0]["pronouns"] == f"'{start}1+1"


def test_the_csv_has_no_clinical_text_for_any_role(client_for, practitioner, clinic):
    _, rows = download(client_for(practitioner))
    assert set(rows[0]) == {
        "patient id", "name", "legal first name", "legal last name", "preferred name", "pronouns", "email",
        "phone", "stage", "lead practitioner", "email consent", "SMS consent", "unsubscribed", "time zone",
        "source", "added", "archived",
    }  # fmt: skip


def test_an_empty_list_downloads_its_header_only_and_is_audited(client_for, staff):
    _, rows = download(client_for(staff), "?q=nobody")
    assert rows == []
    assert AccessEvent.objects.filter(action="export", patient_ids=[]).count() == 1


def test_anonymous_visitors_cannot_download(client):
    response = client.get("/patients/export.csv")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/sign-in/")


def test_the_list_links_its_download_with_the_same_filters(client_for, staff, practitioner):
    body = client_for(staff).get(f"/patients/?lead={practitioner.pk}&page=1").content.decode()
    assert f'href="/patients/export.csv?lead={practitioner.pk}"' in body


def test_archived_patients_are_exported_only_when_shown(client_for, staff, clinic):
    clinic["Fox"].archived = True
    clinic["Fox"].save()
    _, rows = download(client_for(staff))
    assert "Fox" not in {row["legal last name"] for row in rows}
    _, everyone = download(client_for(staff), "?archived=all")
    fox = next(row for row in everyone if row["legal last name"] == "Fox")
    assert fox["archived"] == "yes"


def test_consent_and_dates_read_plainly(client_for, staff, clinic):
    from patients import services

    services.consent_record(patient=clinic["Ames"], channel="email", granted=True, via="test")
    _, rows = download(client_for(staff))
    ames = rows[0]
    assert (ames["email consent"], ames["SMS consent"], ames["added"]) == ("yes", "no", "2026-03-01")
    assert ames["patient id"] == str(clinic["Ames"].pk)


def test_phone_numbers_are_exported_as_stored_and_kept_as_text(client_for, staff):
    PatientFactory(last_name="Tel", phone="+13125550147")
    _, rows = download(client_for(staff))
    assert (
        rows[0]["phone"] == "'+13125550147"
    )  # E.164; the apostrophe keeps a spreadsheet from reading a formula


def test_the_csv_reads_four_queries_a_chunk_whatever_the_patients_hold(
    client_for, staff, practitioner, monkeypatch
):
    monkeypatch.setattr(patient_reads.patient_export, "__kwdefaults__", {"chunk": 5})
    client = client_for(staff)

    def queries():
        with CaptureQueriesContext(connection) as captured:
            download(client)
        return len(captured)

    def add(n):
        for patient in PatientFactory.create_batch(n):
            journey(patient, Stage.CHECK_INS)
            CareTeamMember.objects.create(patient=patient, user=practitioner, role="lead")

    add(10)  # two chunks
    two = queries()
    add(10)  # four chunks
    assert queries() - two == 2 * 4  # patients, leads, consent and stages for each chunk; no query a patient


@pytest.mark.parametrize("sort", ["name", "-added"])
def test_a_search_with_few_matches_is_read_whole_and_pages_as_one_with_many(
    client_for, staff, monkeypatch, sort
):
    """A search under ``SEARCH_BOUND`` matches reads them whole (by the trigram index on PostgreSQL, not by
    walking the name index for the page's first matches) and pages them in order; over it, page by page from
    the index. The same pages and the same number of queries either way."""
    for n in range(60):
        with time_machine.travel(datetime(2026, 3, 1, 12, n, tzinfo=UTC), tick=False):
            PatientFactory(first_name="Kim" if n % 2 else "Lee", last_name=f"Zed{n % 7}")
    client = client_for(staff)

    def walk():
        pages, cursor, counts = [], "", []
        while True:
            with CaptureQueriesContext(connection) as captured:
                response = client.get(f"/patients/?q=kim&per_page=25&sort={sort}{cursor}")
            page = response.context["page"]
            pages.append([row.pk for row in page.object_list])
            counts.append(len(captured))
            if not page.has_next:
                return pages, counts, page
            cursor = f"&after={page.next_cursor}"

    client.get("/patients/?q=kim")  # sessions, caches and the like, once
    few_pages, few_counts, few_last = walk()
    assert patient_reads.patient_listing(query="kim", sort=sort).few
    monkeypatch.setattr(patient_reads, "SEARCH_BOUND", 5)
    assert not patient_reads.patient_listing(query="kim", sort=sort).few
    many_pages, many_counts, many_last = walk()
    assert few_pages == many_pages and [len(p) for p in few_pages] == [25, 5]
    assert few_counts == many_counts
    assert few_last.count == many_last.count == 30


@pytest.fixture
def stages_clinic():
    """Thirty patients over every kind of stage: open ones, ended ones, a patient who came back, none at all;
    every third archived. Names repeat, so the id breaks ties."""
    open_stages = [Stage.INQUIRY, Stage.DISCOVERY, Stage.CHECK_INS, Stage.PAUSED]
    for n in range(30):
        patient = PatientFactory(first_name=f"Pat{n % 3}", last_name=f"Lee{n % 5}", archived=n % 3 == 0)
        if n % 6 == 5:
            continue  # no journey yet
        if n % 5 == 2:  # graduated once, and back in a new journey every other time
            journey(patient, Stage.GRADUATED, ended=True)
            if n % 2:
                journey(patient, open_stages[n % 4], started=datetime(2026, 7, 1, tzinfo=UTC))
            continue
        journey(patient, open_stages[n % 4] if n % 7 else Stage.WITHDRAWN, ended=not n % 7)


def listed(stage, archived, sort):
    """The listing's ids in its order and its count as the page shows it."""
    listing = patient_reads.patient_listing(stage=stage, archived=archived, sort=sort)
    return list(listing.ids), listing.counted()


def expected(stage, archived):
    """The patients at ``stage`` by their current journey, in name order, worked out in Python."""
    from patients.models import Patient

    shown = []
    for patient in Patient.objects.order_by("last_name", "first_name", "id"):
        if (archived == "active" and patient.archived) or (archived == "archived" and not patient.archived):
            continue
        journeys = sorted(
            patient.journeys.all(),
            key=lambda j: (j.ended_at is not None, j.ended_at, -j.started_at.timestamp()),
        )
        current = journeys[0].stage if journeys else "none"
        if current == stage:
            shown.append(patient.pk)
    return shown


@pytest.mark.parametrize("archived", ["active", "archived", "all"])
@pytest.mark.parametrize("stage", [*Stage.values, "none"])
def test_the_stage_filter_lists_and_counts_the_patients_at_that_stage(stages_clinic, stage, archived):
    ids, count = listed(stage, archived, "name")
    assert ids == expected(stage, archived)
    assert count == (len(ids), False)
    # A bounded order: the same patients, counted alike.
    lead_ids, lead_count = listed(stage, archived, "lead")
    assert sorted(lead_ids) == sorted(ids) and lead_count == count


def test_an_open_stage_is_counted_from_its_journeys_by_index_not_from_every_patient(stages_clinic):
    """The count of an open stage reads the journeys at it (less archived patients'), never a scan of the
    clinic's patients hashed against them; other filters keep the patients' side."""
    for sort in ("lead", "name"):
        with CaptureQueriesContext(connection) as captured:
            patient_reads.patient_listing(stage=Stage.PAUSED, sort=sort).counted()
        counts = [q["sql"] for q in captured.captured_queries if "COUNT(*)" in q["sql"]]
        assert len(counts) == 1
        assert (
            'FROM "journeys_journey" WHERE' in counts[0] and 'FROM "patients_patient" WHERE' not in counts[0]
        )
    with CaptureQueriesContext(connection) as captured:
        patient_reads.patient_listing(stage=Stage.PAUSED, source="website").counted()
    assert 'FROM "patients_patient" WHERE' in captured.captured_queries[-1]["sql"]


def test_an_open_stages_count_stops_at_the_cap_like_every_count(stages_clinic, monkeypatch):
    ids, _ = listed(Stage.PAUSED, "all", "name")
    assert len(ids) > 3
    monkeypatch.setattr(patient_reads, "COUNT_CAP", 3)
    compiled_with_the_cap = patient_reads._open_stage_counts.__wrapped__()  # the cap is in the compiled SQL
    monkeypatch.setattr(patient_reads, "_open_stage_counts", lambda: compiled_with_the_cap)
    assert patient_reads.patient_listing(stage=Stage.PAUSED, archived="all").counted() == (3, True)


def test_the_page_shows_the_stage_count_with_archived_patients_left_out(client_for, staff, stages_clinic):
    client = client_for(staff)
    for archived in ("active", "archived", "all"):
        page = client.get(f"/patients/?stage=paused&archived={archived}").context["page"]
        assert page.count == len(expected(Stage.PAUSED, archived)) > 0
        assert [row.pk for row in page.object_list] == expected(Stage.PAUSED, archived)


@pytest.fixture
def kims():
    """Fifty-one patients whose name holds "kim" (ties on the whole name, so the id orders them; some added in
    the same second; three archived), nine who do not, and the id of one who has gone."""
    for n in range(60):
        with time_machine.travel(datetime(2026, 3, 1, 12, n // 3, tzinfo=UTC), tick=False):
            PatientFactory(
                first_name=("Kim" if n % 10 < 7 else "Lee") if n % 4 else "Kimberly",
                last_name=f"Zed{n % 5}" if n % 3 else "Akim",
                archived=n in (7, 21, 40),
            )
    gone = PatientFactory(first_name="Kim", last_name="Gone")
    gone_id = gone.pk
    gone.delete()
    return gone_id


def page_of(page):
    return list(page.object_list), page.has_next, page.has_previous, page.count, page.capped


def every_cursor(gone_id):
    """The first and last pages, and after and before every patient there is (matching or not) and one who
    has gone."""
    from accounts.paging import Cursor
    from patients.models import Patient

    ids = [*Patient.objects.values_list("pk", flat=True), gone_id]
    return [Cursor(), Cursor(last=True), *(Cursor(after=i) for i in ids), *(Cursor(before=i) for i in ids)]


@pytest.mark.parametrize("sort", ["name", "-name", "added", "-added"])
@pytest.mark.parametrize("per_page", [5, 25, 100])
def test_a_search_with_few_matches_gives_the_pages_its_ids_read_whole_gave(kims, sort, per_page):
    """Up to the bound, the one statement's page is the page of the whole list of ids in the list's order
    (``keyset_page_of_ids``, how the page was made from every match's id), for every cursor."""
    from accounts.paging import keyset_page_of_ids

    listing = patient_reads.patient_listing(query="kim", sort=sort)
    ids = list(listing.ids)
    assert len(ids) == 48 and listing.few
    for cursor in every_cursor(kims):
        expected = page_of(keyset_page_of_ids(ids, cursor, per_page=per_page))
        assert page_of(listing.search_page(cursor, per_page=per_page)) == expected, cursor


@pytest.mark.parametrize("sort", ["name", "-name", "added", "-added"])
@pytest.mark.parametrize("cap", [10, 47, 48, 10_000])
def test_a_search_with_more_matches_than_the_bound_gives_the_keyset_pages_and_capped_count(
    kims, monkeypatch, sort, cap
):
    """Past the bound, the one statement's page is ``keyset_page``'s over the index, with the count
    ``capped_count`` made (under, at and over any cap), for every cursor, the gone one's fallback too."""
    from accounts.paging import capped_count, keyset_page, keyset_page_within

    monkeypatch.setattr(patient_reads, "SEARCH_BOUND", 8)
    listing = patient_reads.patient_listing(query="kim", sort=sort)
    assert not listing.few
    count = capped_count(listing.ids, cap)
    for cursor in every_cursor(kims):
        expected = page_of(keyset_page(listing.ids, cursor, per_page=5, count=count))
        got = keyset_page_within(listing.ids, cursor, per_page=5, bound=listing.bound, cap=cap)
        assert page_of(got) == expected, cursor
        if cap == 10_000:
            assert page_of(listing.search_page(cursor, per_page=5)) == expected, cursor


def test_a_search_reads_its_page_and_count_in_one_statement_that_returns_the_page(
    client_for, staff, kims, monkeypatch
):
    """Few matches or many, the search is one statement (its count, its page and which way to read them),
    returning the page's rows, never every match: the Python a search costs does not grow with them."""
    returned = []

    def counting(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if " LIKE " in sql:  # the search, not the page's rows (which read every column)
            returned.append(context["cursor"].rowcount)
        return result

    client = client_for(staff)
    client.get("/patients/?q=kim")
    for bound in (5_000, 8):
        monkeypatch.setattr(patient_reads, "SEARCH_BOUND", bound)
        for url, shown in (("/patients/?q=kim", 25), ("/patients/?q=kim&page=last", 25)):
            returned.clear()
            with connection.execute_wrapper(counting):
                response = client.get(url)
            assert len(response.context["page"].object_list) == shown and response.context["page"].count == 48
            assert len(returned) == 1 and returned[0] <= 25 + 2


def test_a_search_page_is_the_markup_every_match_read_and_paged_in_python_gave(
    client_for, staff, kims, monkeypatch
):
    """The page, its rows, counts and Next/Previous/Last links byte for byte as when every match's id was
    read and paged in Python (``keyset_page_of_ids``), but for the CSRF token's masks."""
    from accounts.paging import capped_count, keyset_page, keyset_page_of_ids

    client = client_for(staff)

    def as_before(listing, cursor, *, per_page):
        if listing.few:
            return keyset_page_of_ids(list(listing.ids), cursor, per_page=per_page)
        return keyset_page(listing.ids, cursor, per_page=per_page, count=capped_count(listing.ids))

    def bodies():
        shown = []
        for query in ("", "&page=last", "&sort=-added", "&per_page=50", "&q=zed"):
            first = client.get(f"/patients/?q=kim{query}")
            page = first.context["page"]
            pages = [first]
            if page.has_next:
                pages.append(client.get(f"/patients/?q=kim{query}&after={page.next_cursor}"))
            if page.has_previous:
                pages.append(client.get(f"/patients/?q=kim{query}&before={page.previous_cursor}"))
            shown += [re.sub(r"\b[A-Za-z0-9]{64}\b", "token", p.content.decode()) for p in pages]
        return shown

    for bound in (5_000, 8):
        monkeypatch.setattr(patient_reads, "SEARCH_BOUND", bound)
        now = bodies()
        with monkeypatch.context() as patched:
            patched.setattr(patient_reads.PatientListing, "search_page", as_before)
            assert bodies() == now
