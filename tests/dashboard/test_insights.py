import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import AccessEvent
from compliance.models import Alert, CheckInAnswer, ComplianceLog
from compliance.services import answer_tallies_refresh
from journeys.models import Blueprint, BlueprintItem, CheckIn, Journey, Stage
from nudges.models import Nudge
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db

# Tuesday 1 Dec 2026, 12:00 UTC; the clinic's window is the 28 days before.
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen(time_machine):
    time_machine.move_to(NOW, tick=False)


def journey_for(patient, practitioner):
    journey = Journey.objects.create(patient=patient, stage=Stage.CHECK_INS)
    blueprint = Blueprint.objects.create(
        journey=journey, version=1, status="published", created_by=practitioner, published_at=NOW
    )
    for position, title in enumerate(["Magnesium", "Walk"]):
        BlueprintItem.objects.create(blueprint=blueprint, kind="lifestyle", title=title, position=position)
    return journey


def checkin(journey, *, sent_at, channel, answered_after=None, statuses=(), barriers=(), open_=False):
    """A check-in whose request went out at ``sent_at`` (UTC) by ``channel``: answered ``answered_after``
    later, still open, or missed."""
    nudge = Nudge.objects.create(
        patient=journey.patient,
        kind="checkin_request",
        channel=channel,
        send_at=sent_at,
        sent_at=sent_at,
        status=Nudge.Status.SENT,
        dedupe_key=f"checkin-{journey.pk}-{sent_at.isoformat()}",
    )
    status = CheckIn.Status.MISSED
    if answered_after is not None:
        status = CheckIn.Status.ANSWERED
    elif open_:
        status = CheckIn.Status.SCHEDULED
    row = CheckIn.objects.create(
        journey=journey,
        due_on=sent_at.date(),
        closes_at=NOW + timedelta(days=2) if open_ else sent_at + timedelta(days=3),
        status=status,
        answered_at=sent_at + answered_after if answered_after is not None else None,
        request_nudge=nudge,
    )
    if answered_after is not None:
        answer = CheckInAnswer.objects.create(
            checkin=row, patient=journey.patient, answered_at=row.answered_at, barriers=list(barriers)
        )
        items = BlueprintItem.objects.filter(blueprint__journey=journey).order_by("position")
        for item, item_status in zip(items, statuses, strict=False):
            ComplianceLog.objects.create(
                answer=answer,
                checkin=row,
                item=item,
                status=item_status,
                paused_reason="away" if item_status == "paused" else "",
            )
        answer_tallies_refresh(answer_ids=[answer.pk])  # written here without checkin_answer_record
    return row


@pytest.fixture
def clinic(practitioner):
    """Two patients, one in New York (UTC−5 in November), one in London (UTC+0), and two channels.

    email: 2 sent, 1 answered · SMS: 3 sent, 2 answered
    local 08:00: 3 sent, 2 answered · local 18:00: 2 sent, 1 answered
    answered after 2 h, 30 min and 4 h: median 2 h
    """
    new_york = journey_for(PatientFactory(time_zone="America/New_York"), practitioner)
    london = journey_for(PatientFactory(time_zone="Europe/London"), practitioner)
    at = lambda day, hour: datetime(2026, 11, day, hour, 0, tzinfo=UTC)  # noqa: E731
    checkin(new_york, sent_at=at(20, 13), channel="email", answered_after=timedelta(hours=2),
            statuses=["done", "done"], barriers=["cost", "time"])  # fmt: skip
    checkin(new_york, sent_at=at(13, 13), channel="email")
    checkin(new_york, sent_at=at(6, 23), channel="sms")
    checkin(london, sent_at=at(20, 8), channel="sms", answered_after=timedelta(minutes=30),
            statuses=["partial", "missed"], barriers=["cost"])  # fmt: skip
    checkin(london, sent_at=at(13, 18), channel="sms", answered_after=timedelta(hours=4),
            statuses=["done", "paused"])  # fmt: skip
    # Left out: a request sent before the window, one still open, and a check-in whose request never went.
    checkin(london, sent_at=at(1, 8) - timedelta(days=10), channel="sms", answered_after=timedelta(hours=1))
    checkin(london, sent_at=NOW - timedelta(hours=3), channel="email", open_=True)
    CheckIn.objects.create(journey=new_york, due_on=date(2026, 11, 27), closes_at=NOW, status="missed")
    Alert.objects.create(patient=new_york.patient, reason="low_adherence", detail="55%")
    Alert.objects.create(patient=london.patient, reason="missed_checkins", detail="2 missed")
    Alert.objects.create(
        patient=london.patient, reason="adherence_drop", detail="-30", resolved_at=NOW - timedelta(days=1)
    )
    return new_york, london


def test_an_anonymous_visitor_is_sent_to_sign_in(client):
    response = client.get("/insights/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/sign-in/?next=/insights/")


@pytest.mark.parametrize("role", ["staff", "practitioner", "admin_user"])
def test_every_role_reads_insights(client_for, role, request):
    assert client_for(request.getfixturevalue(role)).get("/insights/").status_code == 200


def test_an_empty_clinic_gets_clear_empty_states(client_for, staff):
    body = client_for(staff).get("/insights/").content.decode()
    assert "No check-in requests yet" in body
    assert "No barriers named yet" in body
    assert "No answered check-in requests yet." in body
    assert "No plan items reported" in body
    assert "No one is waiting on the care team." in body


def test_response_rates_by_channel_and_by_the_patients_local_send_hour(client_for, staff, clinic):
    response = client_for(staff).get("/insights/")
    responses = response.context["responses"]
    by_channel = {r.key: (r.sent, r.answered, r.percent) for r in responses.by_channel}
    assert by_channel == {"email": (2, 1, 50.0), "sms": (3, 2, 66.7)}
    by_hour = [(r.label, r.sent, r.answered, r.percent) for r in responses.by_hour]
    assert by_hour == [("08:00–08:59", 3, 2, 66.7), ("18:00–18:59", 2, 1, 50.0)]
    assert (responses.sent, responses.answered, responses.percent) == (5, 3, 60.0)
    assert responses.median_to_answer == timedelta(hours=2)

    body = response.content.decode()
    assert "3 of 5 check-ins whose request went out" in body
    assert "2 h" in body
    channel_row = body.split('id="channel-sms"')[1].split("</tr>")[0]
    assert "67%" in channel_row
    hour_row = body.split('id="hour-18"')[1].split("</tr>")[0]
    assert "50%" in hour_row


def test_clinic_adherence_barriers_and_open_alerts(client_for, staff, clinic):
    response = client_for(staff).get("/insights/")
    adherence = response.context["adherence"]
    # done, done, partly, not this week, done (paused left out): 3.5 of 5
    assert (adherence.score, adherence.reports, adherence.patients) == (70.0, 5, 2)
    assert response.context["barriers"] == [("Cost", 2), ("Time", 1)]
    assert response.context["open_alerts"] == 2
    body = response.content.decode()
    assert "70%" in body
    assert "5 item reports from 2 patients" in body
    assert 'data-count="2"' in body


def count_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/insights/").status_code == 200
    return len(queries)


def test_the_page_runs_the_same_queries_however_much_history_there_is(
    client_for, staff, practitioner, clinic
):
    client = client_for(staff)
    few = count_queries(client)
    tokyo = journey_for(PatientFactory(time_zone="Asia/Tokyo"), practitioner)
    for day in range(1, 29):
        sent_at = datetime(2026, 11, day, day % 24, tzinfo=UTC)
        checkin(tokyo, sent_at=sent_at, channel="sms", answered_after=timedelta(hours=day),
                statuses=["done", "missed"], barriers=["forgot"])  # fmt: skip
        Alert.objects.create(patient=tokyo.patient, reason="low_adherence", detail="", resolved_at=sent_at)
    assert count_queries(client) == few


# --- The date range -----------------------------------------------------------------------------------


def test_the_page_shows_the_clinics_window_by_default_and_names_it(client_for, staff, clinic):
    response = client_for(staff).get("/insights/")
    data = response.context["insights"]
    assert (data.start, data.end) == (date(2026, 11, 4), date(2026, 12, 1))
    body = response.content.decode()
    assert "4 Nov 2026 – 1 Dec 2026 · 28 days" in body
    assert 'value="2026-11-04"' in body and 'value="2026-12-01"' in body  # the form shows the range it used


def test_a_range_narrows_every_figure(client_for, staff, clinic):
    response = client_for(staff).get("/insights/?start=2026-11-15&end=2026-11-30")
    responses = response.context["responses"]
    # only the two requests sent on 20 Nov fall in it
    assert (responses.sent, responses.answered) == (2, 2)
    assert response.context["barriers"] == [("Cost", 2), ("Time", 1)]
    assert response.context["adherence"].window_start == date(2026, 11, 15)
    assert [week.week for week in response.context["insights"].weekly] == [
        date(2026, 11, 9), date(2026, 11, 16), date(2026, 11, 23), date(2026, 11, 30),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("start=2026-11-20&end=2026-11-10", "“From” is after “To”: choose an earlier start."),
        ("start=2026-11-20&end=2026-12-25", "“To” is after today"),
        ("start=2025-11-29&end=2026-11-30", "Choose at most 366 days"),  # 367 days
        ("start=yesterday&end=2026-11-30", "“From” is not a date"),
        ("end=30/11/2026", "“To” is not a date"),
    ],
)
def test_a_range_that_cannot_be_used_gets_a_message_and_the_default_days(
    client_for, staff, clinic, query, message
):
    response = client_for(staff).get(f"/insights/?{query}")
    assert response.status_code == 200
    body = response.content.decode()
    assert message in body and "Showing the last 28 days instead." in body
    data = response.context["insights"]
    assert (data.start, data.end) == (date(2026, 11, 4), date(2026, 12, 1))


# --- The journey funnel and adherence over time ---------------------------------------------------------


@pytest.fixture
def moves(practitioner):
    """Three journeys this month: two from inquiry to discovery (after 2 and 4 days), one of them on to intake
    6 days later; one older move, before the range."""
    from journeys.models import StageChange

    def journey(moves):
        j = Journey.objects.create(patient=PatientFactory(), stage=moves[-1][1])
        left = [at for at, _, _ in moves[1:]] + [None]
        for (at, to, frm), left_at in zip(moves, left, strict=True):
            StageChange.objects.create(journey=j, from_stage=frm, to_stage=to, at=at, left_at=left_at)
        return j

    day = lambda d: datetime(2026, 11, d, 12, tzinfo=UTC)  # noqa: E731
    journey([(day(5), "inquiry", ""), (day(7), "discovery", "inquiry"), (day(13), "intake", "discovery")])
    journey([(day(10), "inquiry", ""), (day(14), "discovery", "inquiry")])
    journey([(day(20), "inquiry", "")])
    journey([(datetime(2026, 9, 1, tzinfo=UTC), "inquiry", "")])


def test_the_funnel_counts_conversion_and_median_days_in_the_range(client_for, staff, moves):
    response = client_for(staff).get("/insights/")
    steps = {step.stage: step for step in response.context["insights"].funnel}
    assert [step.stage for step in response.context["insights"].funnel] == [
        "inquiry", "discovery", "intake", "commitment", "blueprint", "check_ins", "graduated", "advocate",
    ]  # fmt: skip
    assert (steps["inquiry"].entered, steps["inquiry"].went_on, steps["inquiry"].conversion) == (3, 2, 66.7)
    assert steps["inquiry"].median_days == 3.0  # stays of 2 and 4 days
    assert (steps["discovery"].entered, steps["discovery"].conversion, steps["discovery"].median_days) == (
        2,
        50.0,
        6.0,
    )
    assert steps["advocate"].conversion is None
    body = response.content.decode()
    row = body.split('id="funnel-inquiry"')[1].split("</tr>")[0]
    assert ">3<" in row and "67%" in row and "3.0" in row
    svg = body.split('class="chart chart-insight chart-funnel"')[1].split("</svg>")[0]
    assert "Inquiry 3, 67% went on; Discovery call 2, 50% went on" in svg
    assert "67% went on · median 3 days" in svg


def test_adherence_over_time_scores_each_week(client_for, staff, clinic):
    weeks = {
        w.week: (w.score, w.reports) for w in client_for(staff).get("/insights/").context["insights"].weekly
    }
    # 13 Nov: missed only (no logs); 20 Nov: done, done (New York) and partial, missed (London)
    assert weeks[date(2026, 11, 16)] == (62.5, 4)
    assert weeks[date(2026, 11, 9)] == (100.0, 1)  # 13 Nov London: done, paused (left out)
    assert weeks[date(2026, 11, 30)] == (None, 0)


def test_each_chart_is_an_image_with_its_numbers_in_words_and_a_table_beside_it(
    client_for, staff, clinic, moves
):
    body = client_for(staff).get("/insights/").content.decode()
    for chart, table in (
        ("chart-funnel", "funnel-table"),
        ("chart-weekly-clinic", "weekly-table"),
        ("chart-channels", "response-by-channel"),
        ("chart-hours", "response-by-hour"),
        ("chart-barriers", "insights-barriers"),
    ):
        svg = body.split(f"{chart}")[1].split("</svg>")[0]
        assert 'role="img"' in svg and 'aria-label="' in svg, chart
        assert f'id="{table}"' in body.split(chart)[1].split("</section>")[0], chart


def test_the_page_costs_the_same_queries_with_a_long_history_of_moves(
    client_for, staff, practitioner, clinic
):
    client = client_for(staff)
    few = count_queries(client)
    from journeys.models import StageChange

    for n in range(30):
        j = Journey.objects.create(patient=PatientFactory(), stage="discovery")
        StageChange.objects.create(journey=j, to_stage="inquiry", at=NOW - timedelta(days=n % 20 + 2))
        StageChange.objects.create(
            journey=j, from_stage="inquiry", to_stage="discovery", at=NOW - timedelta(days=1)
        )
    assert count_queries(client) == few


# --- Every table as CSV ---------------------------------------------------------------------------------


def table_csv(client, table, query=""):
    response = client.get(f"/insights/{table}.csv{query}")
    assert response.status_code == 200 and response["Content-Type"] == "text/csv; charset=utf-8"
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff")
    return response, list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))


def test_every_table_downloads_as_csv_with_the_pages_numbers(client_for, staff, clinic, moves):
    client = client_for(staff)
    _, channels = table_csv(client, "channels")
    assert channels == [
        ["channel", "requests", "answered", "rate %"],
        ["Email", "2", "1", "50.0"],
        ["SMS", "3", "2", "66.7"],
    ]
    _, hours = table_csv(client, "hours")
    assert hours[1] == ["08:00–08:59", "3", "2", "66.7"]
    _, barriers = table_csv(client, "barriers")
    assert barriers == [["barrier", "answers naming it"], ["Cost", "2"], ["Time", "1"]]
    _, weekly = table_csv(client, "adherence")
    assert ["2026-11-16", "62.5", "4"] in weekly and ["2026-11-30", "", "0"] in weekly
    response, funnel = table_csv(client, "funnel", "?start=2026-11-01&end=2026-11-30")
    assert funnel[0] == ["stage", "entered", "went on to", "went on", "conversion %", "median days in stage"]
    assert funnel[1] == ["Inquiry", "3", "Discovery call", "2", "66.7", "3.0"]
    assert funnel[-1] == ["Advocate", "0", "", "", "", ""]
    assert (
        response["Content-Disposition"]
        == 'attachment; filename="insights-funnel-2026-11-01-to-2026-11-30.csv"'
    )


def test_a_table_download_is_audited_as_an_export(client_for, staff, clinic):
    table_csv(client_for(staff), "barriers", "?start=2026-11-10&end=2026-11-30")
    event = AccessEvent.objects.get(action="export")
    assert event.object_repr == "insights barriers CSV" and event.patient_ids == []
    assert event.detail == "start=2026-11-10&end=2026-11-30" and event.actor == staff


def test_an_unknown_table_is_404(client_for, staff):
    assert client_for(staff).get("/insights/secrets.csv").status_code == 404


def test_the_page_links_each_tables_download_for_its_range(client_for, staff, clinic):
    body = client_for(staff).get("/insights/?start=2026-11-10&end=2026-11-30").content.decode()
    for table in ("funnel", "adherence", "barriers", "channels", "hours"):
        assert f'href="/insights/{table}.csv?start=2026-11-10&amp;end=2026-11-30"' in body
