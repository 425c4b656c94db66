"""The outbox page as it is read now: its rows as tuples (``selectors.outbox_rows``) by keyset reads compiled
once per thread from a tab's queryset built once per thread, their lines, the wording's plain values filled in
without the template engine, and a tab's filters as it opens answered without a form. Each is tested against
what it replaced: the ORM's models by the ORM's SQL, the engine's text, the form's markup."""

import re
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.db.models import Model
from django.http import QueryDict
from django.template import Context
from django.test.utils import CaptureQueriesContext

from accounts.paging import Cursor, keyset_page
from nudges import rendering, selectors, views
from nudges.forms import OutboxFilterForm, UntouchedOutboxFilters, outbox_filters
from nudges.models import Kind, Nudge
from patients.models import Channel, Patient
from tests.factories import PatientFactory, UserFactory
from tests.nudges.test_compiled_reads import seven_cursors
from tests.nudges.test_pages import NOON_NY, add_nudges, make

pytestmark = pytest.mark.django_db

HOSTILE = "<script>alert('x')</script> \"Tom\" & Jerry"
ESCAPED = "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &quot;Tom&quot; &amp; Jerry"
VIEWS = [view for view, _ in selectors.View.choices]


def as_row(nudge: Nudge) -> tuple:
    """A nudge loaded as a model (``selectors.outbox``), as its row of ``OUTBOX_COLUMNS``."""
    patient, author = nudge.patient, nudge.created_by
    return (
        nudge.pk, nudge.patient_id, nudge.kind, nudge.channel, nudge.send_at, nudge.sent_at, nudge.status,
        nudge.attempts, nudge.last_error, nudge.status_reason, nudge.taken_at, nudge.subject, nudge.body_text,
        nudge.context, nudge.created_by_id, patient.first_name, patient.last_name, patient.preferred_name,
        patient.time_zone, author.display_name if author else None, author.username if author else None,
    )  # fmt: skip


def page_of(page) -> tuple:
    rows = [row if isinstance(row, tuple) else as_row(row) for row in page.object_list]
    return ([tuple(row) for row in rows], page.has_next, page.has_previous)


def _mixed_outbox(staff, n=13):
    add_nudges(n * 5, staff)  # every status, so every tab has rows, each by an author
    for status in ("pending", "failed", "sent"):  # and some by nobody, with hostile words
        patient = PatientFactory(first_name=HOSTILE, preferred_name="", last_name="&amp;")
        make(
            patient,
            status,
            subject=HOSTILE,
            last_error=HOSTILE,
            status_reason=HOSTILE,
            context={"x": HOSTILE},
        )


@pytest.mark.parametrize("view", VIEWS)
def test_a_tabs_compiled_row_reads_are_the_orms_rows_by_the_orms_sql(staff, view):
    _mixed_outbox(staff)
    tab = selectors.outbox_tab_rows(view)
    assert tab is selectors.outbox_tab_rows(view)  # built once per thread
    for cursor in seven_cursors(selectors.outbox(view=view)):
        models = keyset_page(selectors.outbox(view=view), cursor, per_page=5)
        with CaptureQueriesContext(connection) as orm:
            expected = keyset_page(selectors.outbox_rows(view=view), cursor, per_page=5)
        with CaptureQueriesContext(connection) as compiled:
            got = keyset_page(tab, cursor, per_page=5, compiled=("test outbox rows", view))
        assert page_of(got) == page_of(expected) == page_of(models), cursor
        assert [query["sql"] for query in compiled] == [query["sql"] for query in orm], cursor
        assert got.next_cursor == models.next_cursor and got.previous_cursor == models.previous_cursor
    add_nudges(5, staff)  # read by the SQL compiled before they were added
    last = keyset_page(tab, Cursor(last=True), per_page=5, compiled=("test outbox rows", view))
    assert page_of(last) == page_of(keyset_page(selectors.outbox(view=view), Cursor(last=True), per_page=5))
    assert tab._result_cache is None  # only ever cloned, never evaluated


@time_machine.travel(NOON_NY, tick=False)
@pytest.mark.parametrize("view", VIEWS)
def test_the_page_lists_the_orms_rows_and_their_lines_and_makes_no_model_of_them(
    client_for, staff, view, monkeypatch
):
    _mixed_outbox(staff, n=24)  # more than a page of 50 in All
    client = client_for(staff)
    made = []
    from_db = Model.from_db.__func__  # type: ignore[attr-defined]

    def counted(cls, *args, **kwargs):
        made.append(cls)
        return from_db(cls, *args, **kwargs)

    first = client.get(f"/nudges/?view={view}").context["page"]
    for query in ("", f"&after={first.next_cursor}", "&page=last", f"&before={first.object_list[-1].pk}"):
        monkeypatch.setattr(Model, "from_db", classmethod(counted))
        page = client.get(f"/nudges/?view={view}{query}").context["page"]
        monkeypatch.undo()
        assert Nudge not in made and Patient not in made, query
        models = keyset_page(selectors.outbox(view=view), Cursor.from_query(QueryDict(query)), per_page=50)
        assert page_of(page) == page_of(models) and page.object_list, query
        selectors.outbox_messages(models.object_list)
        assert selectors.outbox_lines(page.object_list) == [
            nudge.message.line for nudge in models.object_list
        ]


@time_machine.travel(NOON_NY, tick=False)
def test_hostile_names_subjects_and_authors_are_escaped_on_the_page(client_for, staff):
    author = UserFactory(role="staff", username="mallory&co", display_name="")
    hostile_author = UserFactory(role="staff", username="eve", display_name=HOSTILE)
    patient = PatientFactory(first_name=HOSTILE, preferred_name="", last_name="&amp;")
    make(patient, "pending", created_by=author)  # its line the wording, with the hostile first name in it
    make(patient, "pending", channel="sms", send_at=NOON_NY + timedelta(hours=1), created_by=hostile_author)
    make(
        patient, "pending", kind="one_off", send_at=NOON_NY + timedelta(hours=2), context={"subject": HOSTILE}
    )
    body = client_for(staff).get("/nudges/?view=upcoming").content.decode()
    assert "<script>alert" not in body and '"Tom"' not in body
    assert f"Your weekly check-in, {ESCAPED}" in body  # the wording's line, escaped once
    assert f"Hi {ESCAPED}, your 2-minute weekly check-in" in body
    assert f"> {ESCAPED} </a>" in body  # the one-off's subject, its line
    assert f"{ESCAPED} &amp;amp;</a>" in body  # the name ×3
    assert "· written by mallory&amp;co</span>" in body  # no display name: the username, as str(user)
    assert f"· written by {ESCAPED}</span>" in body


# --- The wording's plain values, filled in without the engine -------------------------------------------

CONTEXTS = [
    {},
    {"first_name": HOSTILE, "clinic_name": "A & B {{ x }}", "practitioner_name": "", "visit_when": "Tue"},
    {"first_name": "", "practitioner_name": None, "visit_kind": 3, "subject": "", "message": "{% now %}"},
    {"first_name": "Renée", "practitioner_name": "Dr. O'Neil", "visit_kind": "", "subject": "Labs", "n": 1.5},
    {"first_name": "  spaced  ", "checkin_url": "https://x.example/c/a?b=1&c=2", "True": "no", "count": 1234},
]


def engine(source: str, context: dict) -> str:
    try:
        return rendering._engine.from_string(source).render(Context(context, autoescape=False))
    except Exception:  # whatever the engine raises: the wording does not render
        return "does not render"


def ours(source: str, context: dict) -> str:
    try:
        return rendering._render(source, context)
    except rendering.WordingError:
        return "does not render"


def shipped() -> tuple[list[str], list[str]]:
    """Every shipped wording, and those of them an outbox line renders (an email's subject, a text's words)."""
    every, lines = [], []
    for kind in Kind.values:
        for channel in Channel.values:
            subject, body = rendering.default_wording(kind, channel)
            every.extend(source for source in (subject, body) if source)
            lines.append(body if channel == Channel.SMS else subject)
    return every, lines


def test_every_shipped_wording_is_filled_in_as_the_engine_renders_it():
    every, lines = shipped()
    assert len(every) >= 30 and len(lines) == len(Kind.values) * len(Channel.values)
    for source in lines:
        assert rendering._pieces(source) is not None, source  # plain values only: filled without the engine
    for source in every:
        for context in CONTEXTS:
            assert ours(source, context) == engine(source, context), (source, context)


@pytest.mark.parametrize(
    ("source", "plain"),
    [
        ("{% if first_name %}Hi {{ first_name }}{% else %}Hello{% endif %}", False),
        ("{{ first_name|upper }}", False),
        ("{{ first_name|default:clinic_name }}", False),
        ('{{ first_name|default:"you"|lower }}', False),
        ("{{ True }} {{ None }}", False),
        ("{{ 'literal' }} {{ 5 }}", False),
        ("{{ first_name.0 }}", False),
        (
            '{# a note #}Dear {{ practitioner_name|default:"us" }}, {{ visit_kind }}, {{ n }} and {{ count }}',
            True,
        ),
        ("{{ visit_kind|default:'visit' }} at {{ visit_when }}", True),
        ("", True),
        ("No values at all & <b>", True),
    ],
)
def test_admin_written_wording_reads_as_the_engine_renders_it(source, plain):
    assert (rendering._pieces(source) is not None) is plain
    for context in CONTEXTS:
        assert ours(source, context) == engine(source, context), context


def test_wording_that_uses_a_tag_outside_the_allowed_ones_is_still_refused():
    with pytest.raises(rendering.WordingError):
        rendering._render("{% load static %}{{ first_name }}", {"first_name": "x"})


# --- A tab's filters as it opens, without a form ---------------------------------------------------------


@pytest.mark.parametrize("view", VIEWS)
@pytest.mark.parametrize("query", ["", "view=needs", "view=all&after=5", "page=last&before=3", "foo=<b>"])
def test_untouched_filters_say_what_the_form_says(view, query):
    data = QueryDict(query)
    stand_in = outbox_filters(data, view=view)
    assert isinstance(stand_in, UntouchedOutboxFilters)
    form = OutboxFilterForm(data or None, view=view)
    assert stand_in.filters() == form.filters()
    assert stand_in.is_narrowed() is form.is_narrowed() is False
    assert dict(stand_in.errors) == dict(form.errors) == {}
    assert stand_in.widgets() == {name: str(form[name]) for name in form.fields}


@pytest.mark.parametrize("query", ["kind=", "status=failed", "date_from=nonsense", "patient=3&view=all"])
def test_a_query_that_names_a_filter_gets_the_form(query):
    assert isinstance(outbox_filters(QueryDict(query), view="all"), OutboxFilterForm)


def _without_tokens(html: str) -> str:
    """The page without its CSRF tokens (masked anew on each response)."""
    return re.sub(
        r'("X-CSRFToken": "|data-csrf-token="|name="csrfmiddlewaretoken" value=")[^"]*', r"\1", html
    )


@time_machine.travel(NOON_NY, tick=False)
@pytest.mark.parametrize("view", VIEWS)
def test_each_tab_is_the_same_page_as_with_the_form(client_for, staff, view, monkeypatch):
    _mixed_outbox(staff, n=12)
    client = client_for(staff)
    first = client.get(f"/nudges/?view={view}").context["page"]
    for query in (f"?view={view}", f"?view={view}&after={first.next_cursor}", f"?view={view}&page=last"):
        client.get(f"/nudges/{query}")
        ours = client.get(f"/nudges/{query}").content.decode()  # its tabs as kept the first time
        monkeypatch.setattr(
            views, "outbox_filters", lambda data, view: OutboxFilterForm(data or None, view=view)
        )
        theirs = client.get(f"/nudges/{query}").content.decode()
        monkeypatch.undo()
        assert _without_tokens(ours) == _without_tokens(theirs), query


def _badge(body: str) -> str:
    return re.search(r'data-view="needs">\s*Needs a person\s*(.*?)\s*</a>', body, re.S)[1]


def test_a_kept_tab_shows_the_count_to_review_as_it_is_now(client_for, staff):
    add_nudges(5, staff)  # one failed, one unknown
    client = client_for(staff)
    for view in VIEWS:
        assert _badge(client.get(f"/nudges/?view={view}").content.decode()) == (
            '<span class="badge text-bg-warning ms-1">2</span>'
        )
    make(PatientFactory(), "failed")
    for view in VIEWS:
        body = client.get(f"/nudges/?view={view}").content.decode()
        assert _badge(body) == '<span class="badge text-bg-warning ms-1">3</span>', view
        assert "To review: 3" in body
    Nudge.objects.filter(status__in=["failed", "unknown"]).update(reviewed_at=NOON_NY)
    assert _badge(client.get("/nudges/?view=all").content.decode()) == ""
