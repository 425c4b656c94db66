"""The patient list's cheaper paths: the filter bar written by its widgets is the markup the template wrote with
Django's bound fields (hostile names and values escaped, errors marked); a lead is checked against the ids the
form read, for about the same calls whatever the number of practitioners; and the list's count and pages,
compiled once per thread for each shape of filters, are the ORM's, by the same SQL, with no compile after."""

import copy
import cProfile
import pstats
import re
from datetime import UTC, datetime
from itertools import product
from unittest import mock

import pytest
from django.db import connection
from django.db.models.sql.compiler import SQLCompiler
from django.http import QueryDict
from django.template import Context, Template
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext

from accounts.paging import Cursor, capped_count, keyset_page, keyset_page_of_ids
from dashboard import patient_list
from dashboard.forms import PatientListForm
from journeys.models import Journey, Stage
from journeys.selectors import patients as patient_reads
from patients.models import CareTeamMember
from tests.factories import PatientFactory, UserFactory

pytestmark = pytest.mark.django_db

# The bar's controls as templates/patients/patient_list.html wrote them before PatientListForm.fields_html.
OLD_FIELDS = """<div class="filter-field filter-search">
        <label for="{{ filters.q.id_for_label }}" class="form-label small mb-1">{{ filters.q.label }}</label>
        {{ filters.q }}
      </div>
      <div class="filter-field">
        <label for="{{ filters.stage.id_for_label }}" class="form-label small mb-1">Stage</label>
        {{ filters.stage }}
      </div>
      <div class="filter-field">
        <label for="{{ filters.lead.id_for_label }}" class="form-label small mb-1">Lead</label>
        {{ filters.lead }}
      </div>
      <div class="filter-field">
        <label for="{{ filters.source.id_for_label }}" class="form-label small mb-1">Source</label>
        {{ filters.source }}
      </div>
      <div class="filter-field">
        <label for="{{ filters.archived.id_for_label }}" class="form-label small mb-1">Showing</label>
        {{ filters.archived }}
      </div>
      <div class="filter-field filter-narrow">
        <label for="{{ filters.per_page.id_for_label }}" class="form-label small mb-1">Rows</label>
        {{ filters.per_page }}
      </div>"""


def as_the_template_wrote(form: PatientListForm) -> str:
    """The old markup: Django's bound fields, the lead's widget given the options the form read (as the old
    form set them on its own copy of the field)."""
    lead = copy.deepcopy(form.fields["lead"])
    lead.widget.choices = form.lead_choices
    form.fields["lead"] = lead
    form._bound_fields_cache.clear()
    return Template(OLD_FIELDS).render(Context({"filters": form}))


@pytest.fixture
def leads(practitioner):
    hostile = UserFactory(
        username="evil", display_name='<img src=x onerror="alert(1)"> & "Co"', role="practitioner"
    )
    plain = UserFactory(username="dr.adams", display_name="", role="admin")  # named by username
    return [practitioner, hostile, plain]


@pytest.mark.parametrize(
    "query",
    [
        None,
        "",
        "q=%3Cscript%3Ealert(%22x%22)%3C%2Fscript%3E%26%27&stage=paused&source=referral&archived=all&per_page=50",
        "stage=nowhere&lead=99999&source=%3Cb%3E&per_page=7&archived=%22",
        "q=" + "a" * 101 + "%22%3E",
        "lead=0&stage=none",
        "lead=+3",
        "lead=%3Cb%3E",
        "sort=newest&per_page=100",
        "stage=paused&stage=graduated",
        "q=&stage=&lead=&source=&archived=&per_page=",
    ],
)
def test_the_filter_bar_is_the_markup_the_template_wrote(leads, query):
    data = None if query is None else QueryDict(query.replace("LEAD", str(leads[1].pk)))
    ours = PatientListForm(data).fields_html()
    assert ours == as_the_template_wrote(PatientListForm(data))
    assert "<script>" not in ours and "<img" not in ours and "<b>" not in ours
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt; &amp; &quot;Co&quot;" in ours


def test_the_chosen_lead_is_selected_and_a_lead_with_an_error_marked(leads):
    html = PatientListForm(QueryDict(f"lead={leads[1].pk}")).fields_html()
    chosen = re.search(r'<select name="lead".*?</select>', html).group(0)
    assert f'<option value="{leads[1].pk}" selected>' in chosen and chosen.count(" selected") == 1
    wrong = PatientListForm(QueryDict("lead=99999"))
    html = wrong.fields_html()
    assert 'aria-describedby="id_lead_error" aria-invalid="true"' in html
    assert html == as_the_template_wrote(PatientListForm(QueryDict("lead=99999")))


def test_a_lead_is_checked_against_the_ids_the_form_read(leads, staff, django_assert_num_queries):
    with django_assert_num_queries(1):  # the lead candidates, once
        form = PatientListForm(QueryDict(f"lead={leads[2].pk}"))
        assert form.is_valid() and form.filters()["lead_id"] == leads[2].pk
    assert PatientListForm(QueryDict("lead=0")).filters()["lead_id"] == 0
    assert PatientListForm(QueryDict("lead=")).filters()["lead_id"] is None
    for value in (str(staff.pk), "99999", " 3", "x", "\x00"):  # staff lead no one
        form = PatientListForm(QueryDict(f"lead={value}"))
        assert not form.is_valid() and form.filters()["lead_id"] is None
        assert form.errors["lead"] == [f"Lead: “{value}” is not one of the choices, so it was left out."]


def calls_to_check(query: str) -> int:
    profile = cProfile.Profile()
    profile.enable()
    form = PatientListForm(QueryDict(query))
    form.is_valid()
    form.fields_html()
    profile.disable()
    return pstats.Stats(profile).total_calls  # type: ignore[attr-defined]


def test_the_form_costs_about_the_same_calls_for_5_and_200_practitioners(leads):
    query = f"lead={leads[0].pk}&stage=paused"
    calls_to_check(query)  # the options' markup, kept once per list of practitioners
    few = calls_to_check(query)
    UserFactory.create_batch(195, role="practitioner")
    calls_to_check(query)
    many = calls_to_check(query)
    # Before: each practitioner normalised and checked one by one (~5 calls each), the fields deep-copied.
    assert many - few < 60, (few, many)
    assert few < 1000, few


def test_forms_share_their_fields_and_change_none(leads):
    first, second = PatientListForm(QueryDict("stage=nowhere")), PatientListForm(None)
    assert first.fields["stage"] is second.fields["stage"] is PatientListForm.base_fields["stage"]
    assert not first.is_valid() and second.fields["lead"].widget.choices == []
    assert (
        "Stage: “%(value)s” is not one of the choices"
        in second.fields["stage"].error_messages["invalid_choice"]
    )


# --- The count and pages, compiled per shape -------------------------------------------------------------


@pytest.fixture
def clinic(practitioner, leads):
    """Forty patients over stages (open, ended, none), leads (two, or none), sources; every fifth archived."""
    stages = [Stage.INQUIRY, Stage.PAUSED, Stage.GRADUATED, Stage.CHECK_INS, None, Stage.WITHDRAWN]
    sources = ["referral", "website", "event"]
    for n in range(40):
        patient = PatientFactory(
            first_name=f"Pat{n % 4}", last_name=f"Lee{n % 6}", archived=n % 5 == 0, source=sources[n % 3]
        )
        stage = stages[n % 6]
        if stage:
            Journey.objects.create(
                patient=patient,
                stage=stage,
                started_at=datetime(2026, 1, 1 + n % 20, tzinfo=UTC),
                ended_at=datetime(2026, 6, 1, tzinfo=UTC) if stage in patient_reads.ENDED_STAGES else None,
            )
        if n % 4:
            CareTeamMember.objects.create(patient=patient, user=leads[n % 2], role="lead")
    return leads


def orm_page(listing, cursor, per_page):
    """The page as the view read it before: the ORM's keyset read of the listing's ids and its capped count."""
    if listing.bounded:
        return keyset_page_of_ids(list(listing.ids), cursor, per_page=per_page)
    count = listing.count or capped_count(listing.ids)
    return keyset_page(listing.ids, cursor, per_page=per_page, count=count)


def page_of(page):
    return (list(page.object_list), page.has_next, page.has_previous, page.count, page.capped)


def sql_of(read):
    with CaptureQueriesContext(connection) as captured:
        read()
    return [query["sql"] for query in captured.captured_queries]


SHAPES = list(
    product(
        ["active", "archived", "all"],
        [None, 0, "lead"],
        ["", "website"],
        ["", "none", Stage.PAUSED, Stage.GRADUATED],
    )
)


@pytest.mark.parametrize("sort", ["name", "-added", "stage", "-lead"])
def test_every_shape_reads_the_pages_and_count_the_orm_reads(clinic, sort):
    patient_reads._shapes_compiled().clear()
    for archived, lead, source, stage in SHAPES:
        lead_id = clinic[0].pk if lead == "lead" else lead
        listing = patient_reads.patient_listing(
            lead_id=lead_id, source=source, archived=archived, stage=stage, sort=sort
        )
        first = orm_page(listing, Cursor(), 3)
        cursors = [Cursor(), Cursor(last=True)]
        if first.object_list:
            cursors += [Cursor(after=first.object_list[-1]), Cursor(before=first.object_list[-1])]
        cursors.append(Cursor(after=10**9))  # a row that has gone: the last page, as before
        for cursor in cursors:
            for _ in range(2):  # compiled, then replayed
                assert page_of(listing.page(cursor, per_page=3)) == page_of(orm_page(listing, cursor, 3)), (
                    archived,
                    lead,
                    source,
                    stage,
                    cursor,
                )


@pytest.mark.parametrize("stage", ["", Stage.PAUSED, Stage.WITHDRAWN, "none"])
def test_a_compiled_page_is_the_orms_sql_and_compiles_nothing_once_kept(clinic, stage):
    def listing():
        return patient_reads.patient_listing(lead_id=clinic[1].pk, source="event", stage=stage, sort="name")

    cursor = Cursor(after=listing().ids[0]) if listing().ids else Cursor()
    ours = sql_of(lambda: listing().page(cursor, per_page=2))
    theirs = sql_of(lambda: orm_page(listing(), cursor, 2))
    assert ours[-1] == theirs[-1]  # the keyset read itself, the same statement
    assert len(ours) == len(theirs)
    with mock.patch.object(SQLCompiler, "as_sql", side_effect=AssertionError("compiled again")):
        listing().page(cursor, per_page=2)
        listing().counted()


def test_another_lead_source_or_stage_is_another_value_of_the_same_sql(clinic):
    patient_reads._shapes_compiled().clear()
    patient_reads.patient_listing(lead_id=clinic[0].pk, source="website", stage=Stage.PAUSED).page(
        Cursor(), per_page=5
    )
    kept = len(patient_reads._shapes_compiled())
    other = patient_reads.patient_listing(lead_id=clinic[1].pk, source="event", stage=Stage.INQUIRY)
    with mock.patch.object(SQLCompiler, "as_sql", side_effect=AssertionError("compiled again")):
        page = other.page(Cursor(), per_page=5)
    assert len(patient_reads._shapes_compiled()) == kept
    assert page_of(page) == page_of(orm_page(other, Cursor(), 5))


# --- The links' query strings ------------------------------------------------------------------------------


def old_links(request, sort):
    """The query string and the headers' links as the view wrote them with a QueryDict's copy."""
    query = request.GET.copy()
    for name in ("page", "after", "before"):
        query.pop(name, None)
    querystring, urls = query.urlencode(), []
    for key, _ in patient_list.SORTABLE:
        current = sort.lstrip("-") == key
        query["sort"] = f"-{key}" if current and not sort.startswith("-") else key
        urls.append(f"?{query.urlencode()}")
    return querystring, urls


@pytest.mark.parametrize(
    "query",
    [
        "",
        "sort=stage",
        "q=a%26b+c&sort=-lead&lead=3&after=9",
        "sort=name&q=x&sort=-added&page=last",
        "q=%C3%A9t%C3%A9+%3Cscript%3E%22%27&before=4&stage=paused",
        "after=1&before=2&page=3",
        "x=1&x=2&q=&sort=",
        "q=%E2%9C%93%F0%9F%98%80&per_page=50&sort=lead&sort=lead",
    ],
)
@pytest.mark.parametrize("sort", ["name", "-name", "stage", "-lead", "added"])
def test_the_links_are_the_query_strings_a_querydict_wrote(query, sort):
    request = RequestFactory().get("/patients/", QueryDict(query))
    pairs = patient_list._pairs_without_cursor(request)
    querystring, urls = old_links(request, sort)
    assert "&".join(pair for _, pair in pairs) == querystring
    assert [header["url"] for header in patient_list._headers(request, sort, pairs)] == urls
    assert patient_list._headers(request, sort) == patient_list._headers(request, sort, pairs)


# --- A search's statement, compiled per shape ----------------------------------------------------------------


@pytest.fixture
def searchable(practitioner):
    names = ["Kim 100%", "Kim _o", "Kim \\back", "Kimé Zoë", "Ann O'Kim", "Bob Kimball", "Kim Lee", "Lee Kim"]
    for n, name in enumerate(names * 3):
        first, last = name.split(" ", 1)
        patient = PatientFactory(
            first_name=first, last_name=f"{last}{n % 3}", phone=f"+1202555{n:04d}", archived=n % 7 == 0
        )
        if n % 2:
            CareTeamMember.objects.create(patient=patient, user=practitioner, role="lead")
    return practitioner


@pytest.mark.parametrize(
    "query",
    [
        "kim",
        "KIM lee",
        "100%",
        "kim_",
        "_",
        "%",
        "\\",
        "kime zoe",
        "o'kim",
        "202 555 0001",
        "(202) 555",
        "zzz",
    ],
)
@pytest.mark.parametrize("bound", [5_000, 3])
def test_a_compiled_search_reads_the_pages_and_count_the_orm_reads(searchable, query, bound, monkeypatch):
    from accounts.paging import keyset_page_within

    monkeypatch.setattr(patient_reads, "SEARCH_BOUND", bound)
    for sort, lead, archived in [
        ("name", None, "active"),
        ("-added", searchable.pk, "all"),
        ("-name", 0, "active"),
    ]:
        listing = patient_reads.patient_listing(query=query, sort=sort, lead_id=lead, archived=archived)
        assert listing.searched
        first = keyset_page_within(listing.ids, Cursor(), per_page=2, bound=bound)
        cursors = [Cursor(), Cursor(last=True), Cursor(after=10**9), Cursor(before=10**9)]
        if first.object_list:
            cursors += [Cursor(after=first.object_list[-1]), Cursor(before=first.object_list[-1])]
        for cursor in cursors:
            theirs = keyset_page_within(listing.ids, cursor, per_page=2, bound=bound)
            for _ in range(2):  # built, then replayed
                assert page_of(listing.search_page(cursor, per_page=2)) == page_of(theirs), (
                    query,
                    sort,
                    cursor,
                )


def test_a_search_is_the_orms_statement_and_builds_nothing_once_kept(searchable):
    from accounts.paging import keyset_page_within

    def listing(query):
        return patient_reads.patient_listing(query=query, lead_id=searchable.pk, sort="-added")

    cursor = Cursor(after=listing("kim").ids[2])
    ours = sql_of(lambda: listing("kim").search_page(cursor, per_page=2))
    theirs = sql_of(lambda: keyset_page_within(listing("kim").ids, cursor, per_page=2, bound=5_000))
    assert ours == theirs
    with mock.patch.object(SQLCompiler, "as_sql", side_effect=AssertionError("compiled again")):
        page = listing("lee").search_page(cursor, per_page=2)
    other = keyset_page_within(listing("lee").ids, cursor, per_page=2, bound=5_000)
    assert page_of(page) == page_of(other)
