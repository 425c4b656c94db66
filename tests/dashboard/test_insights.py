from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from compliance.models import Alert, CheckInAnswer, ComplianceLog
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
