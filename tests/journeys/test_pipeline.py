from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from journeys.models import OFF_PATH, PATH, Journey, Program, Stage, StageChange
from journeys.selectors import pipeline as selectors
from journeys.services.stages import journey_move, journey_start
from patients.models import CareTeamMember
from tests.factories import PatientFactory
from tests.journeys.test_stages import journey_at

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def frozen(time_machine):
    """Days in stage and stay lengths are exact when the clock stands still."""
    time_machine.move_to(datetime(2026, 3, 10, 15, 0, tzinfo=UTC), tick=False)


def column(board, stage):
    return next(c for c in board.columns if c.stage == stage)


def started(actor, *, days_ago, name=None, program=None, lead=None):
    """A journey at inquiry that started ``days_ago`` days ago."""
    patient = PatientFactory(**({"first_name": name} if name else {}))
    if lead:
        CareTeamMember.objects.create(patient=patient, user=lead, role="lead")
    at = timezone.now() - timedelta(days=days_ago)
    return journey_start(patient=patient, actor=actor, program=program, at=at)


def walk(journey, actor, *steps):
    """Move a journey through ``(stage, days_ago)`` steps, leaving the path with a reason when needed."""
    for stage, days_ago in steps:
        extra = {"reason": "timing", "note": "travelling"} if stage in OFF_PATH else {}
        at = timezone.now() - timedelta(days=days_ago)
        journey_move(journey=journey, to_stage=stage, actor=actor, at=at, **extra)
    journey.refresh_from_db()
    return journey


# The page


@pytest.mark.parametrize("role", ["staff", "practitioner", "admin_user"])
def test_every_signed_in_role_sees_the_board_and_may_move(request, client_for, role):
    user = request.getfixturevalue(role)
    journey = started(user, days_ago=1)
    client = client_for(user)
    assert client.get("/pipeline/").status_code == 200
    assert client.get(f"/journeys/{journey.pk}/move/", **HTMX).status_code == 200
    assert client.post(f"/journeys/{journey.pk}/move/", {"to_stage": "discovery"}).status_code == 302
    journey.refresh_from_db()
    assert journey.stage == Stage.DISCOVERY


@pytest.mark.parametrize("url", ["/pipeline/", "/journeys/1/move/"])
def test_an_anonymous_visitor_is_sent_to_sign_in(client, url):
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/sign-in/")


def test_an_anonymous_post_moves_nothing(client, practitioner):
    journey = started(practitioner, days_ago=1)
    response = client.post(f"/journeys/{journey.pk}/move/", {"to_stage": "discovery"})
    assert response.status_code == 302 and response["Location"].startswith("/accounts/sign-in/")
    journey.refresh_from_db()
    assert journey.stage == Stage.INQUIRY


def test_with_no_journeys_the_board_says_how_one_starts(client_for, staff):
    body = client_for(staff).get("/pipeline/").content.decode()
    assert "No journeys yet" in body
    assert "On to Discovery call" not in body


def test_the_board_has_a_column_per_step_with_exact_counts(client_for, staff, practitioner):
    for stage, n in [(Stage.INQUIRY, 3), (Stage.INTAKE, 2), (Stage.ADVOCATE, 1), (Stage.PAUSED, 1)]:
        for _ in range(n):
            journey_at(stage, practitioner, paused_from=Stage.DISCOVERY if stage == Stage.PAUSED else None)
    journey_at(Stage.DECLINED, practitioner, paused_from=Stage.INQUIRY)
    response = client_for(staff).get("/pipeline/")
    board = response.context["board"]
    assert [c.stage for c in board.columns] == PATH
    assert {c.stage: c.count for c in board.columns} == {
        "inquiry": 3, "discovery": 0, "intake": 2, "commitment": 0,
        "blueprint": 0, "check_ins": 0, "graduated": 0, "advocate": 1,
    }  # fmt: skip
    assert board.paused.count == 1 and len(board.paused.cards) == 1
    assert board.recent_exits == {"declined": 1, "withdrawn": 0}
    body = response.content.decode()
    for stage in PATH:
        assert f'id="stage-{stage}"' in body
    assert "Deep Reconnaissance" in body


def test_declines_older_than_ninety_days_are_not_counted(practitioner):
    old = started(practitioner, days_ago=200)
    walk(old, practitioner, (Stage.DECLINED, 120))
    recent = started(practitioner, days_ago=20)
    walk(recent, practitioner, (Stage.WITHDRAWN, 10))
    board = selectors.pipeline_board()
    assert board.recent_exits == {"declined": 0, "withdrawn": 1}
    assert not board.is_empty


def test_cards_show_the_oldest_in_stage_first_with_days_lead_and_program(client_for, staff, practitioner):
    program = Program.objects.create(name="Gut reset")
    started(staff, days_ago=2, name="Newest")
    started(staff, days_ago=9, name="Oldest", program=program, lead=practitioner)
    middle = started(staff, days_ago=30, name="Middle")
    walk(middle, staff, (Stage.DISCOVERY, 20), (Stage.PAUSED, 10), (Stage.DISCOVERY, 5))
    other = started(staff, days_ago=30, name="Waiting")
    walk(other, staff, (Stage.DISCOVERY, 7))

    response = client_for(staff).get("/pipeline/")
    board = response.context["board"]
    assert [j.first_name for j in column(board, Stage.INQUIRY).cards] == ["Oldest", "Newest"]
    assert [j.first_name for j in column(board, Stage.DISCOVERY).cards] == ["Waiting", "Middle"]
    assert [j.days_in_stage for j in column(board, Stage.DISCOVERY).cards] == [7, 5]
    oldest = column(board, Stage.INQUIRY).cards[0]
    assert (oldest.lead_name, oldest.program_name) == ("Dr. Bob Moss", "Gut reset")

    body = response.content.decode()
    assert f'href="/patients/{oldest.patient_id}/"' in body
    assert "9 days" in body and "Dr. Bob Moss" in body and "Gut reset" in body
    assert "No lead yet" in body


def test_a_full_column_shows_its_first_cards_and_counts_the_rest(client_for, staff, monkeypatch):
    monkeypatch.setattr(selectors, "CARDS_PER_COLUMN", 2)
    for days in (1, 2, 3, 4):
        started(staff, days_ago=days)
    response = client_for(staff).get("/pipeline/")
    inquiry = column(response.context["board"], Stage.INQUIRY)
    assert inquiry.count == 4 and len(inquiry.cards) == 2 and inquiry.more == 2
    assert [j.days_in_stage for j in inquiry.cards] == [4, 3]
    assert "and 2 more" in response.content.decode()


def test_conversion_and_median_stay_come_from_the_stage_history(client_for, staff):
    # Four journeys enter inquiry and three go on to discovery: of those, one goes on to intake and one
    # pauses and comes back to discovery. The fourth is still in inquiry.
    a = started(staff, days_ago=40)
    walk(a, staff, (Stage.DISCOVERY, 38), (Stage.INTAKE, 30))  # inquiry 2 days, discovery 8
    b = started(staff, days_ago=40)
    walk(b, staff, (Stage.DISCOVERY, 36))  # inquiry 4 days, still in discovery
    c = started(staff, days_ago=40)
    # inquiry 10 days, discovery 1, paused 9, back in discovery
    walk(c, staff, (Stage.DISCOVERY, 30), (Stage.PAUSED, 29), (Stage.DISCOVERY, 20))
    started(staff, days_ago=3)  # still in inquiry: no finished stay

    board = client_for(staff).get("/pipeline/").context["board"]
    inquiry, discovery, intake = (column(board, s) for s in (Stage.INQUIRY, Stage.DISCOVERY, Stage.INTAKE))
    assert (inquiry.entered, inquiry.went_on, inquiry.conversion_percent) == (4, 3, 75)
    assert (discovery.entered, discovery.went_on, discovery.conversion_percent) == (3, 1, 33)
    assert (intake.entered, intake.went_on, intake.conversion) == (1, 0, 0)
    assert column(board, Stage.ADVOCATE).conversion is None  # the end of the path
    assert column(board, Stage.COMMITMENT).conversion is None  # no one got there yet
    assert inquiry.median_days == 4  # stays of 2, 4 and 10 days
    assert discovery.median_days == 4.5  # stays of 8 and 1 days
    assert board.paused.median_days == 9
    assert intake.median_days is None


def test_the_header_shows_the_rate_and_median_or_a_dash(client_for, staff):
    a = started(staff, days_ago=10)
    walk(a, staff, (Stage.DISCOVERY, 7))
    started(staff, days_ago=1)
    body = client_for(staff).get("/pipeline/").content.decode()
    inquiry = body.split('id="stage-inquiry"')[1].split("</header>")[0]
    assert "On to Discovery call" in inquiry and "50%" in inquiry
    assert "3 days" in inquiry
    intake = body.split('id="stage-intake"')[1].split("</header>")[0]
    assert "—" in intake and "%" not in intake


def test_the_board_narrows_to_a_lead_and_a_program(client_for, staff, practitioner, other_practitioner):
    gut = Program.objects.create(name="Gut reset")
    sleep = Program.objects.create(name="Sleep")
    mine = started(staff, days_ago=5, lead=practitioner, program=gut)
    walk(mine, staff, (Stage.DISCOVERY, 2))
    started(staff, days_ago=5, lead=practitioner, program=sleep)
    started(staff, days_ago=5, lead=other_practitioner, program=gut)
    started(staff, days_ago=5)
    client = client_for(staff)

    def counts(query):
        board = client.get(f"/pipeline/?{query}").context["board"]
        return column(board, Stage.INQUIRY).count, column(board, Stage.DISCOVERY).count

    assert counts("") == (3, 1)
    assert counts(f"lead={practitioner.pk}") == (1, 1)
    assert counts(f"program={gut.pk}") == (1, 1)
    assert counts(f"lead={practitioner.pk}&program={gut.pk}") == (0, 1)
    assert counts("lead=0") == (1, 0)
    narrowed = client.get(f"/pipeline/?lead={practitioner.pk}&program={gut.pk}").context["board"]
    assert column(narrowed, Stage.INQUIRY).entered == 1  # the history is narrowed too
    body = client.get(f"/pipeline/?lead={other_practitioner.pk}&program={sleep.pk}").content.decode()
    assert "No journeys match these filters" in body


def test_the_board_runs_the_same_queries_for_5_and_40_journeys(client_for, staff, practitioner):
    Program.objects.create(name="Gut reset")
    client = client_for(staff)
    stages = [*PATH, Stage.PAUSED, Stage.DECLINED, Stage.WITHDRAWN]

    def add(n):
        for i in range(n):
            stage = stages[i % len(stages)]
            journey = journey_at(stage, staff, paused_from=Stage.INTAKE if stage == Stage.PAUSED else None)
            CareTeamMember.objects.create(patient=journey.patient, user=practitioner, role="lead")

    def count():
        with CaptureQueriesContext(connection) as queries:
            response = client.get("/pipeline/")
        assert response.status_code == 200
        return len(queries)

    add(5)
    small = count()
    add(35)
    assert Journey.objects.count() == 40
    assert count() == small
    assert small <= 10 + 3  # the board's reads, and its audit row: writer lock, the chain's last row, INSERT


# Moving a patient


def test_the_move_form_offers_only_the_allowed_moves(client_for, staff):
    journey = journey_at(Stage.INTAKE, staff)
    body = client_for(staff).get(f"/journeys/{journey.pk}/move/", **HTMX).content.decode()
    assert 'value="commitment"' in body and 'value="paused"' in body and 'value="withdrawn"' in body
    assert 'value="declined"' not in body and 'value="graduated"' not in body
    assert 'name="reason"' in body and 'name="note"' in body


def test_the_move_form_of_an_on_path_only_step_asks_no_reason(client_for, staff):
    journey = journey_at(Stage.GRADUATED, staff)
    body = client_for(staff).get(f"/journeys/{journey.pk}/move/", **HTMX).content.decode()
    assert 'value="advocate"' in body and 'name="reason"' not in body


def test_a_journey_at_the_end_of_the_path_has_nowhere_to_go(client_for, staff):
    journey = journey_at(Stage.ADVOCATE, staff)
    body = client_for(staff).get(f"/journeys/{journey.pk}/move/", **HTMX).content.decode()
    assert "no further move" in body


def test_an_htmx_move_removes_the_card_says_so_and_refreshes_the_board(client_for, staff):
    journey = journey_at(Stage.INQUIRY, staff)
    response = client_for(staff).post(
        f"/journeys/{journey.pk}/move/", {"to_stage": "discovery", "note": " booked for Tuesday "}, **HTMX
    )
    assert response.status_code == 200
    assert response["HX-Retarget"] == f"#journey-{journey.pk}"
    assert response["HX-Reswap"] == "outerHTML"
    assert response["HX-Trigger"] == "journeyMoved"
    body = response.content.decode()
    assert 'id="pipeline-messages" hx-swap-oob="true"' in body
    assert f"{journey.patient.display_name} moved to Discovery call." in body
    change = StageChange.objects.get(journey=journey, to_stage="discovery")
    assert (change.from_stage, change.by, change.note) == ("inquiry", staff, "booked for Tuesday")


def test_an_htmx_exit_move_records_the_reason_and_note(client_for, staff):
    journey = journey_at(Stage.COMMITMENT, staff)
    data = {"to_stage": "declined", "reason": "cost", "note": "Would like to come back next year."}
    response = client_for(staff).post(f"/journeys/{journey.pk}/move/", data, **HTMX)
    assert response.status_code == 200
    journey.refresh_from_db()
    assert journey.stage == Stage.DECLINED and journey.ended_at is not None
    change = journey.stage_changes.get(to_stage="declined")
    assert (change.reason, change.note) == ("cost", "Would like to come back next year.")


def test_a_plain_post_moves_and_returns_to_the_board_with_a_message(client_for, staff):
    journey = journey_at(Stage.INQUIRY, staff)
    client = client_for(staff)
    response = client.post(f"/journeys/{journey.pk}/move/", {"to_stage": "discovery"})
    assert response.status_code == 302 and response["Location"] == "/pipeline/"
    journey.refresh_from_db()
    assert journey.stage == Stage.DISCOVERY
    body = client.get("/pipeline/").content.decode()
    assert f"{journey.patient.display_name} moved to Discovery call." in body


def test_a_plain_post_returns_to_the_filtered_board_but_never_off_site(client_for, staff):
    client = client_for(staff)
    journey = journey_at(Stage.INQUIRY, staff)
    data = {"to_stage": "discovery", "next": "/pipeline/?program=3"}
    assert client.post(f"/journeys/{journey.pk}/move/", data)["Location"] == "/pipeline/?program=3"
    data = {"to_stage": "intake", "next": "https://evil.example/"}
    assert client.post(f"/journeys/{journey.pk}/move/", data)["Location"] == "/pipeline/"


def test_a_forbidden_move_is_refused_with_a_message_and_changes_nothing(client_for, staff):
    journey = journey_at(Stage.INQUIRY, staff)
    client = client_for(staff)
    response = client.post(f"/journeys/{journey.pk}/move/", {"to_stage": "graduated"}, **HTMX)
    assert response.status_code == 422
    body = response.content.decode()
    assert "A journey at Inquiry cannot move to Graduated." in body
    assert "<form" in body and "HX-Trigger" not in response
    journey.refresh_from_db()
    assert journey.stage == Stage.INQUIRY and journey.ended_at is None
    assert journey.stage_changes.count() == 1

    response = client.post(f"/journeys/{journey.pk}/move/", {"to_stage": "graduated"}, follow=True)
    assert "was not moved: A journey at Inquiry cannot move to Graduated." in response.content.decode()
    assert journey.stage_changes.count() == 1


def test_a_refused_htmx_move_also_says_why_in_the_boards_message_area(client_for, staff):
    journey = journey_at(Stage.INQUIRY, staff)
    response = client_for(staff).post(f"/journeys/{journey.pk}/move/", {"to_stage": "check_ins"}, **HTMX)
    assert response.status_code == 422
    body = response.content.decode()
    assert '<div id="pipeline-messages" hx-swap-oob="true" aria-live="polite">' in body
    name = journey.patient.display_name
    assert f"{name} was not moved: A journey at Inquiry cannot move to Check-ins." in body


def test_the_board_offers_drag_and_drop_over_the_move_form(client_for, staff):
    journey = journey_at(Stage.INTAKE, staff)
    body = client_for(staff).get("/pipeline/").content.decode()
    assert "/static/vendor/sortablejs-1.15.7/Sortable.min.js" in body and "/static/js/pipeline.js" in body
    assert f'data-move-url="/journeys/{journey.pk}/move/"' in body
    assert 'data-stage-list="intake"\n                   data-moves="commitment paused withdrawn"' in body
    assert 'data-stage-list="paused"' in body  # a card dropped on Paused asks for its reason
    assert 'data-collapse-stage="graduated"' in body  # every column folds
    assert "Move…" in body  # the keyboard's way stays


def test_an_exit_move_without_a_reason_is_refused(client_for, staff):
    journey = journey_at(Stage.DISCOVERY, staff)
    response = client_for(staff).post(
        f"/journeys/{journey.pk}/move/", {"to_stage": "paused", "note": "away for a month"}, **HTMX
    )
    assert response.status_code == 422
    assert "Choose why the patient is leaving the path." in response.content.decode()
    journey.refresh_from_db()
    assert journey.stage == Stage.DISCOVERY
    assert not journey.stage_changes.filter(to_stage="paused").exists()


def test_an_exit_move_without_a_note_is_refused(client_for, staff):
    journey = journey_at(Stage.DISCOVERY, staff)
    data = {"to_stage": "withdrawn", "reason": "moved", "note": "   "}
    response = client_for(staff).post(f"/journeys/{journey.pk}/move/", data, **HTMX)
    assert response.status_code == 422
    assert "Add a few words about what happened." in response.content.decode()
    journey.refresh_from_db()
    assert journey.stage == Stage.DISCOVERY


def test_a_reason_given_for_an_on_path_move_is_not_recorded(client_for, staff):
    journey = journey_at(Stage.INQUIRY, staff)
    data = {"to_stage": "discovery", "reason": "cost", "note": ""}
    assert client_for(staff).post(f"/journeys/{journey.pk}/move/", data, **HTMX).status_code == 200
    assert journey.stage_changes.get(to_stage="discovery").reason == ""


def test_a_stage_that_does_not_exist_is_refused(client_for, staff):
    journey = journey_at(Stage.INQUIRY, staff)
    response = client_for(staff).post(f"/journeys/{journey.pk}/move/", {"to_stage": "heaven"}, **HTMX)
    assert response.status_code == 422
    assert journey.stage_changes.count() == 1


def test_moving_an_unknown_journey_is_404(client_for, staff):
    assert client_for(staff).post("/journeys/999999/move/", {"to_stage": "discovery"}).status_code == 404


@pytest.mark.parametrize(
    "target",
    ["abc", "dashboard:pipeline", "//evil.example/", "javascript:alert(1)", "/\\evil.example", "\x00/x", " "],
)
def test_a_next_that_is_not_a_path_on_this_site_returns_to_the_board(client_for, staff, target):
    client = client_for(staff)
    journey = journey_at(Stage.INQUIRY, staff)
    response = client.post(f"/journeys/{journey.pk}/move/", {"to_stage": "discovery", "next": target})
    assert response.status_code == 302
    assert response["Location"] == "/pipeline/"
    refused = client.post(f"/journeys/{journey.pk}/move/", {"to_stage": "graduated", "next": target})
    assert refused["Location"] == "/pipeline/"


def test_a_next_with_a_line_break_cannot_split_the_header(client_for, staff):
    client = client_for(staff)
    journey = journey_at(Stage.INQUIRY, staff)
    response = client.post(
        f"/journeys/{journey.pk}/move/", {"to_stage": "discovery", "next": "/pipeline/\r\nSet-Cookie: x=1"}
    )
    assert response.status_code == 302
    assert "\n" not in response["Location"]


def test_past_the_cap_a_column_shows_the_summarys_count_and_below_it_counts_now(staff, monkeypatch):
    from dataclasses import replace

    monkeypatch.setattr(selectors, "COUNT_CAP", 2)
    for days in (3, 2, 1):
        started(staff, days_ago=days)
    walk(started(staff, days_ago=5), staff, (Stage.DISCOVERY, 4))
    flow = selectors.pipeline_flow_with_counts()
    assert flow.counts[Stage.INQUIRY] == 3 and flow.counts[Stage.DISCOVERY] == 1
    stored = replace(flow, counts=flow.counts | {Stage.INQUIRY: 40, Stage.DISCOVERY: 99})

    board = selectors.pipeline_board(flow=stored)

    assert column(board, Stage.INQUIRY).count == 40  # three now, past the cap of two: the summary's
    assert column(board, Stage.DISCOVERY).count == 1  # under the cap: counted now
    assert not board.is_empty
    assert selectors.pipeline_board(flow=replace(flow, counts={})).columns[0].count == 3  # no summary: exact


def test_a_card_escapes_what_the_clinic_typed(client_for, staff):
    started(staff, days_ago=2, name="<b>Bo</b>")
    body = client_for(staff).get("/pipeline/").content.decode()
    assert "&lt;b&gt;Bo&lt;/b&gt;" in body
    assert "<b>Bo</b>" not in body
    assert "No lead yet" in body and "2 days" in body
