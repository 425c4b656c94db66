from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext

from accounts.models import AccessEvent
from dashboard.patient_page import PATIENT_TABS
from journeys.models import (
    OFF_PATH,
    PATH,
    STAGE_TAGLINES,
    Blueprint,
    CheckIn,
    Journey,
    Program,
    Stage,
    StageChange,
    Visit,
    VisitNote,
)
from journeys.panels.timeline import journey_panel_context, timeline_panel_context
from journeys.selectors.timeline import PAGE_SIZE, patient_timeline
from journeys.services.stages import journey_move, journey_start
from nudges.models import Nudge, NudgeRule
from tests.factories import PatientFactory
from tests.support.patient_page import panel_context, tab_url

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 4, 1, 16, 0, tzinfo=UTC)
NOTE_BODY = "Reports 3 a.m. waking and reflux since the divorce."
REVISION_REASON = "Magnesium upset her stomach; switching to glycinate."
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def patient(db):
    return PatientFactory(first_name="Ana", last_name="Silva")


@pytest.fixture(autouse=True)
def no_intake_questionnaire(db):
    """These journeys walk through intake: the questionnaire it would send is left out of their timelines."""
    NudgeRule.objects.filter(kind="intake_questionnaire").update(enabled=False)


def ago(**delta):
    return NOW - timedelta(**delta)


def journey_at(stage, actor, *, patient=None, left_from=Stage.INTAKE, at=None):
    """A journey walked along the path to ``stage`` through the service (off-path: leaving from ``left_from``)."""
    at = at or ago(days=60)
    journey = journey_start(patient=patient or PatientFactory(), actor=actor, at=at)
    target = left_from if stage in OFF_PATH else stage
    for step in PATH[1 : PATH.index(target) + 1]:
        at += timedelta(days=1)
        journey_move(journey=journey, to_stage=step, actor=actor, at=at)
    if stage in OFF_PATH:
        at += timedelta(days=1)
        journey_move(
            journey=journey, to_stage=stage, actor=actor, at=at, reason="cost", note="Money is tight."
        )
    journey.refresh_from_db()
    assert journey.stage == stage
    return journey


def add_visit(patient, practitioner, at, **kw):
    return Visit.objects.create(
        patient=patient, practitioner=practitioner, kind=kw.pop("kind", "follow_up"), starts_at=at, **kw
    )


def add_note(visit, author, at, *, signed=True, title="Follow-up note"):
    return VisitNote.objects.create(
        visit=visit,
        author=author,
        title=title,
        body=NOTE_BODY,
        created_at=at,
        signed_at=at if signed else None,
    )


def add_blueprint(journey, practitioner, at, *, version, status=Blueprint.Status.PUBLISHED, reason=""):
    return Blueprint.objects.create(
        journey=journey,
        version=version,
        status=status,
        revision_reason=reason,
        created_by=practitioner,
        created_at=at,
        published_at=at,
        published_by=practitioner,
    )


def add_checkin(journey, due_on: date, *, status=CheckIn.Status.SCHEDULED, answered_at=None):
    closes_at = datetime(due_on.year, due_on.month, due_on.day, 4, 0, tzinfo=UTC) + timedelta(days=3)
    return CheckIn.objects.create(
        journey=journey, due_on=due_on, closes_at=closes_at, status=status, answered_at=answered_at
    )


def add_nudge(patient, at, *, key, status=Nudge.Status.SENT, kind="one_off"):
    return Nudge.objects.create(
        patient=patient,
        kind=kind,
        channel="email",
        send_at=at,
        sent_at=at if status == Nudge.Status.SENT else None,
        status=status,
        dedupe_key=key,
    )


def history(patient, practitioner, *, each=1, start=None):
    """``each`` events of every kind (stage changes counted from the journey's start), spread over the past."""
    start = start or ago(days=400)
    journey = journey_at(Stage.BLUEPRINT, practitioner, patient=patient, at=start)
    previous = None
    for n in range(each):
        at = start + timedelta(days=10 + n * 5)
        visit = add_visit(patient, practitioner, at, status=Visit.Status.COMPLETED)
        add_note(visit, practitioner, at + timedelta(hours=1), title=f"Note {n}")
        if previous:
            previous.status = Blueprint.Status.SUPERSEDED
            previous.save(update_fields=["status"])
        previous = add_blueprint(
            journey, practitioner, at + timedelta(hours=2), version=n + 1, reason=REVISION_REASON
        )
        add_checkin(journey, (at + timedelta(days=1)).date(), status=CheckIn.Status.MISSED)
        add_nudge(patient, at + timedelta(hours=3), key=f"test:{patient.pk}:{n}")
    return journey


def panel_request(user, **query):
    request = RequestFactory().get("/", query)
    request.user = user
    return request


# ------------------------------------------------------------------------------------- the journey panel


@pytest.mark.parametrize("stage", PATH)
def test_the_journey_panel_highlights_each_path_stage_with_its_tagline(
    client_for, staff, practitioner, patient, stage
):
    journey_at(stage, practitioner, patient=patient)
    response = client_for(staff).get(tab_url(patient, "journey"))
    body = response.content.decode()
    summary = panel_context(response, "journey")["summary"]
    states = [step.state for step in summary.steps]
    index = PATH.index(stage)
    assert states == ["done"] * index + ["current"] + ["todo"] * (len(PATH) - index - 1)
    assert summary.percent == round((index + 1) * 100 / len(PATH))
    assert STAGE_TAGLINES[stage] in body
    assert f'aria-valuenow="{summary.percent}"' in body
    assert 'aria-current="step"' in body
    assert "/pipeline/#journey-" in body


@pytest.mark.parametrize("stage", sorted(OFF_PATH))
def test_an_off_path_journey_shows_a_badge_with_why_it_left_and_where(
    client_for, staff, practitioner, patient, stage
):
    left_from = Stage.INTAKE if stage != Stage.DECLINED else Stage.DISCOVERY
    journey_at(stage, practitioner, patient=patient, left_from=left_from)
    response = client_for(staff).get(tab_url(patient, "journey"))
    body = response.content.decode()
    summary = panel_context(response, "journey")["summary"]
    assert summary.off_path and summary.exit_reason == "Cost"
    assert [s.stage for s in summary.steps if s.state == "left"] == [left_from]
    assert f"{Stage(stage).label} · Cost" in body
    assert "Money is tight." in body
    assert 'aria-current="step"' not in body


def test_the_journey_panel_shows_program_days_in_stage_and_start(client_for, staff, practitioner, patient):
    program = Program.objects.create(name="Gut reset", weeks=12)
    journey = journey_start(patient=patient, actor=staff, program=program, at=ago(days=10))
    journey_move(journey=journey, to_stage=Stage.DISCOVERY, actor=staff, at=ago(days=4))
    body = client_for(staff).get(tab_url(patient, "journey")).content.decode()
    assert "Gut reset" in body
    assert "4 days, since 28 Mar 2026" in body
    assert "22 Mar 2026" in body
    assert 'id="journey-start"' not in body  # an open journey: nothing to start


def test_the_open_journey_is_shown_before_an_older_closed_one(staff, practitioner, patient):
    old = journey_at(
        Stage.WITHDRAWN, practitioner, patient=patient, left_from=Stage.DISCOVERY, at=ago(days=300)
    )
    new = journey_start(patient=patient, actor=staff, at=ago(days=2))
    context = journey_panel_context(panel_request(staff), patient)
    assert context["summary"].journey == new != old
    assert not context["can_start"]


def test_a_closed_journey_offers_to_start_a_new_one(client_for, staff, practitioner, patient):
    journey_at(Stage.GRADUATED, practitioner, patient=patient)
    body = client_for(staff).get(tab_url(patient, "journey")).content.decode()
    assert "Start a new journey" in body


# ---------------------------------------------------------------------------- starting a journey


def test_a_patient_without_a_journey_sees_the_empty_state(client_for, staff, patient):
    Program.objects.create(name="Gut reset", weeks=12)
    Program.objects.create(name="Retired plan", weeks=8, active=False)
    body = client_for(staff).get(tab_url(patient, "journey")).content.decode()
    assert "No journey yet" in body
    assert f'action="/patients/{patient.pk}/journey/start/"' in body
    assert "Gut reset" in body and "Retired plan" not in body
    assert "Nothing has happened yet" in body


@pytest.mark.parametrize("role", ["staff", "practitioner", "admin_user"])
def test_every_role_can_start_a_journey(request, client_for, patient, role):
    user = request.getfixturevalue(role)
    program = Program.objects.create(name="Gut reset", weeks=12)
    response = client_for(user).post(f"/patients/{patient.pk}/journey/start/", {"program": program.pk})
    assert response.status_code == 302
    assert response["Location"] == f"/patients/{patient.pk}/?tab=journey#panel-journey"
    journey = Journey.objects.get(patient=patient)
    assert (journey.stage, journey.program) == (Stage.INQUIRY, program)
    change = StageChange.objects.get(journey=journey)
    assert (change.from_stage, change.to_stage, change.by) == ("", Stage.INQUIRY, user)
    assert AccessEvent.objects.filter(action="create", patient_id=patient.pk, actor=user).exists()
    page = client_for(user).get(response["Location"]).content.decode()
    assert "journey has started at Inquiry" in page


def test_a_second_open_journey_is_refused_with_a_message(client_for, staff, patient):
    journey_start(patient=patient, actor=staff)
    response = client_for(staff).post(f"/patients/{patient.pk}/journey/start/", {}, follow=True)
    assert "already has an open journey" in response.content.decode()
    assert Journey.objects.filter(patient=patient).count() == 1


def test_a_retired_program_is_refused_and_nothing_starts(client_for, staff, patient):
    retired = Program.objects.create(name="Retired plan", weeks=8, active=False)
    response = client_for(staff).post(
        f"/patients/{patient.pk}/journey/start/", {"program": retired.pk}, follow=True
    )
    assert "not offered any more" in response.content.decode()
    assert not Journey.objects.exists()


def test_starting_a_journey_needs_a_post(client_for, staff, patient):
    assert client_for(staff).get(f"/patients/{patient.pk}/journey/start/").status_code == 405
    assert not Journey.objects.exists()


def test_starting_a_journey_for_an_unknown_patient_is_404(client_for, staff):
    assert client_for(staff).post("/patients/999999/journey/start/").status_code == 404


def test_anonymous_visitors_are_sent_to_sign_in(client, patient):
    for response in (
        client.get(f"/patients/{patient.pk}/timeline/", **HTMX),
        client.post(f"/patients/{patient.pk}/journey/start/"),
    ):
        assert response.status_code == 302 and response["Location"].startswith("/accounts/sign-in/")
    assert not Journey.objects.exists()


# ---------------------------------------------------------------------------------------- the timeline


def test_the_timeline_merges_every_kind_newest_first(practitioner, staff, patient):
    journey = journey_at(Stage.BLUEPRINT, practitioner, patient=patient, at=ago(days=100))
    visit = add_visit(patient, practitioner, ago(days=20), kind="intake", status=Visit.Status.COMPLETED)
    note = add_note(visit, practitioner, ago(days=19), title="Intake: the story so far")
    add_blueprint(journey, practitioner, ago(days=15), version=1, status=Blueprint.Status.SUPERSEDED)
    add_blueprint(journey, practitioner, ago(days=8), version=2, reason=REVISION_REASON)
    add_checkin(journey, (NOW - timedelta(days=12)).date(), status=CheckIn.Status.MISSED)
    add_checkin(
        journey, (NOW - timedelta(days=5)).date(), status=CheckIn.Status.ANSWERED, answered_at=ago(days=4)
    )
    add_nudge(patient, ago(days=3), key="outreach", kind="adherence_outreach")
    # Not yet happened: left to the visits, check-ins and messages panels.
    add_visit(patient, practitioner, NOW + timedelta(days=3))
    add_checkin(journey, (NOW + timedelta(days=2)).date())
    add_nudge(patient, NOW + timedelta(hours=2), key="later", status=Nudge.Status.PENDING)

    page = patient_timeline(patient=patient, user=practitioner)
    kinds = [entry.kind for entry in page.entries]
    assert kinds == [
        "message",
        "checkin",
        "blueprint",
        "checkin",
        "blueprint",
        "note",
        "visit",
        *["stage"] * 5,
    ]
    assert [e.at for e in page.entries] == sorted((e.at for e in page.entries), reverse=True)
    assert not page.has_more
    by_kind = {e.kind: e for e in page.entries}
    assert by_kind["note"].title == "Intake: the story so far"
    assert by_kind["note"].url == f"/visit-notes/{note.pk}/"
    assert by_kind["visit"].url == f"/visits/{visit.pk}/"
    assert page.entries[0].title == "Adherence outreach" and page.entries[0].badge == "Sent"
    assert page.entries[1].badge == "Answered" and page.entries[3].badge == "Missed"
    assert page.entries[2].badge == "Current" and page.entries[4].badge == "Superseded"
    assert page.entries[-1].title == "Journey started at Inquiry"
    assert page.entries[-2].title == "Inquiry → Discovery call"


def test_an_open_check_in_that_is_due_shows_as_awaiting_an_answer(practitioner, patient):
    journey = journey_at(Stage.BLUEPRINT, practitioner, patient=patient)
    add_checkin(journey, NOW.date())
    entry = patient_timeline(patient=patient, user=practitioner).entries[0]
    assert (entry.kind, entry.badge, entry.title) == ("checkin", "Awaiting answer", "Check-in due 1 Apr 2026")


def test_leaving_the_path_shows_the_reason_and_note(practitioner, patient):
    journey_at(Stage.PAUSED, practitioner, patient=patient)
    entry = patient_timeline(patient=patient, user=practitioner).entries[0]
    assert entry.title == "Intake → Paused"
    assert entry.detail == "Cost — Money is tight."
    assert entry.by == str(practitioner)


def test_staff_see_that_a_note_exists_but_never_its_body_nor_a_revision_reason(
    client_for, staff, practitioner, patient
):
    history(patient, practitioner, each=2)
    body = client_for(staff).get(tab_url(patient, "journey")).content.decode()
    assert "Note 1" in body and "Care plan version 2 published" in body
    assert NOTE_BODY not in body
    assert REVISION_REASON not in body
    fragment = client_for(staff).get(f"/patients/{patient.pk}/timeline/", **HTMX).content.decode()
    assert "Note 1" in fragment
    assert NOTE_BODY not in fragment and REVISION_REASON not in fragment
    entries = patient_timeline(patient=patient, user=staff).entries
    assert all(REVISION_REASON not in e.detail and NOTE_BODY not in e.detail for e in entries)
    assert all(e.url == "" for e in entries if e.kind == "blueprint")


@pytest.mark.parametrize("role", ["practitioner", "admin_user"])
def test_clinicians_see_revision_reasons_but_never_note_bodies_on_the_timeline(
    request, client_for, patient, role
):
    user = request.getfixturevalue(role)
    history(patient, user, each=2)
    fragment = client_for(user).get(f"/patients/{patient.pk}/timeline/", **HTMX).content.decode()
    assert REVISION_REASON in fragment
    assert NOTE_BODY not in fragment
    assert "Note 1" in fragment
    assert f"/journeys/{Journey.objects.get().pk}/blueprint/v2/" in fragment


def test_the_timeline_reads_no_note_body_from_the_database(practitioner, patient):
    history(patient, practitioner)
    with CaptureQueriesContext(connection) as queries:
        patient_timeline(patient=patient, user=practitioner)
    note_query = next(q["sql"] for q in queries if 'FROM "journeys_visitnote"' in q["sql"])
    assert '"journeys_visitnote"."body"' not in note_query
    assert '"journeys_visitnote"."sections"' not in note_query


def test_the_timeline_shows_25_and_loads_older_ones_with_htmx(client_for, staff, patient):
    for n in range(PAGE_SIZE + 5):
        add_nudge(patient, ago(hours=n + 1), key=f"n{n}")
    client = client_for(staff)
    response = client.get(tab_url(patient, "journey"))
    first = panel_context(response, "timeline")["page"]
    assert len(first.entries) == PAGE_SIZE and first.has_more and first.next_page == 2
    body = response.content.decode()
    assert f'hx-get="/patients/{patient.pk}/timeline/?page=2"' in body
    assert f'href="/patients/{patient.pk}/?tab=journey&amp;timeline=2#panel-timeline"' in body

    fragment = client.get(f"/patients/{patient.pk}/timeline/?page=2", **HTMX)
    second = fragment.context["panel"]["page"]
    assert fragment.status_code == 200
    assert len(second.entries) == 5 and not second.has_more
    assert "Show older" not in fragment.content.decode()
    assert "<html" not in fragment.content.decode()
    shown = [e.pk for e in first.entries + second.entries]
    assert shown == list(Nudge.objects.order_by("-send_at").values_list("pk", flat=True))


def test_without_htmx_show_older_grows_the_patient_page(client_for, staff, patient):
    for n in range(PAGE_SIZE + 5):
        add_nudge(patient, ago(hours=n + 1), key=f"n{n}")
    client = client_for(staff)
    response = client.get(f"/patients/{patient.pk}/timeline/?page=2")
    assert response.status_code == 302
    assert response["Location"] == f"/patients/{patient.pk}/?tab=journey&timeline=2#panel-timeline"
    page = panel_context(client.get(tab_url(patient, "journey", timeline=2)), "timeline")["page"]
    assert len(page.entries) == PAGE_SIZE + 5 and not page.has_more


# Not named "page": that is Playwright's fixture, and shadowing it gave these tests its session parameter.
@pytest.mark.parametrize("page_number", ["0", "-3", "abc", "9999"])
def test_odd_page_numbers_never_break_the_timeline(client_for, staff, patient, page_number):
    add_nudge(patient, ago(hours=1), key="one")
    client = client_for(staff)
    assert client.get(f"/patients/{patient.pk}/timeline/?page={page_number}", **HTMX).status_code == 200
    assert client.get(tab_url(patient, "journey", timeline=page_number)).status_code == 200


def test_events_at_the_same_moment_are_neither_repeated_nor_lost_across_pages(staff, practitioner, patient):
    moment = ago(days=1)
    for n in range(PAGE_SIZE):
        add_nudge(patient, moment, key=f"same{n}")
        add_visit(patient, practitioner, moment)
    first = patient_timeline(patient=patient, user=staff)
    second = patient_timeline(patient=patient, user=staff, offset=PAGE_SIZE)
    seen = [(e.kind, e.pk) for e in first.entries + second.entries]
    assert len(seen) == len(set(seen)) == 2 * PAGE_SIZE
    assert not second.has_more


def test_loading_the_timeline_is_audited(client_for, staff, patient):
    client_for(staff).get(f"/patients/{patient.pk}/timeline/?page=2", **HTMX)
    assert AccessEvent.objects.filter(action="view", patient_id=patient.pk, actor=staff).exists()


def test_an_unknown_patient_timeline_is_404(client_for, staff):
    assert client_for(staff).get("/patients/999999/timeline/", **HTMX).status_code == 404


# ---------------------------------------------------------------------------------------- query budget


def count_queries(fn):
    with CaptureQueriesContext(connection) as queries:
        fn()
    return len(queries)


@pytest.mark.parametrize("role", ["staff", "practitioner"])
def test_the_panels_and_timeline_run_as_many_queries_for_3_events_as_for_60(request, client_for, role):
    user = request.getfixturevalue(role)
    practitioner = request.getfixturevalue("practitioner")
    small, large = PatientFactory(), PatientFactory()
    history(small, practitioner, each=1)  # 5 events and the journey's moves
    history(large, practitioner, each=12)  # 60 events and the journey's moves

    def panels(patient):
        journey_panel_context(panel_request(user), patient)
        context = timeline_panel_context(panel_request(user, timeline=3), patient)
        assert context["page"].entries  # evaluated inside the count

    client = client_for(user)

    def fragment(patient):
        response = client.get(f"/patients/{patient.pk}/timeline/?page=2", **HTMX)
        assert response.status_code == 200

    fragment(small)  # warm the caches (content types) the audit trail uses
    assert count_queries(lambda: panels(small)) == count_queries(lambda: panels(large)) <= 7
    assert count_queries(lambda: fragment(small)) == count_queries(lambda: fragment(large))
    assert len(patient_timeline(patient=large, user=user, limit=100).entries) == 60 + len(PATH[:5])


def test_the_patient_page_runs_as_many_queries_for_3_events_as_for_60(client_for, staff, practitioner):
    small, large = PatientFactory(), PatientFactory()
    history(small, practitioner, each=1)
    history(large, practitioner, each=12)
    client = client_for(staff)
    client.get(f"/patients/{small.pk}/")  # warm the caches (content types) the audit trail uses
    for tab in PATIENT_TABS:
        assert count_queries(lambda tab=tab: client.get(tab_url(small, tab.key))) == count_queries(
            lambda tab=tab: client.get(tab_url(large, tab.key))
        ), tab.key
