from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import signing
from django.urls import resolve, reverse

from journeys.models import CheckIn, Program, Stage
from journeys.services.checkins import checkins_schedule
from journeys.services.stages import journey_move, journey_start
from journeys.tokens import checkin_token, read_checkin_token
from nudges.models import Nudge
from nudges.services import nudge_dispatch_due
from nudges.tokens import unsubscribe_token
from patients import services as patient_services
from patients.models import CheckinHour
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db

SITE = "https://crm.clinic.example"
# A Friday evening in Los Angeles, already Saturday morning in London; both before their clocks change
# (US on 8 March 2026, UK on 29 March 2026).
START = datetime(2026, 2, 21, 3, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def site_url(settings):
    settings.ALLIANCE_SITE_URL = SITE


def journey_to_checkins(actor, *, time_zone="America/New_York", program=None):
    """A journey walked to ``blueprint`` through the service, ready to enter check_ins."""
    journey = journey_start(patient=PatientFactory(time_zone=time_zone), actor=actor, program=program)
    for stage in (Stage.DISCOVERY, Stage.INTAKE, Stage.COMMITMENT, Stage.BLUEPRINT):
        journey_move(journey=journey, to_stage=stage, actor=actor)
    return journey


def enter(journey, actor):
    journey_move(journey=journey, to_stage=Stage.CHECK_INS, actor=actor)


def pause(journey, actor):
    journey_move(journey=journey, to_stage=Stage.PAUSED, actor=actor, reason="timing", note="travelling")


def requests(journey):
    return Nudge.objects.filter(patient=journey.patient, kind="checkin_request")


def utc(*args):
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("time_zone", "first_due", "send_at", "after_dst_due", "after_dst_send_at", "first_closes_at"),
    [
        # 10:00 PST is 18:00 UTC; from 8 March, 10:00 PDT is 17:00 UTC.
        ("America/Los_Angeles", date(2026, 2, 27), utc(2026, 2, 27, 18), date(2026, 3, 13),
         utc(2026, 3, 13, 17), utc(2026, 3, 2, 8)),
        # 10:00 GMT is 10:00 UTC; from 29 March, 10:00 BST is 09:00 UTC.
        ("Europe/London", date(2026, 2, 28), utc(2026, 2, 28, 10), date(2026, 4, 4),
         utc(2026, 4, 4, 9), utc(2026, 3, 3, 0)),
    ],
)  # fmt: skip
def test_entering_check_ins_schedules_weekly_check_ins_at_ten_in_the_patients_own_calendar(
    practitioner, time_zone, first_due, send_at, after_dst_due, after_dst_send_at, first_closes_at
):
    program = Program.objects.create(name="Gut reset", weeks=12, checkin_every_days=7)
    journey = journey_to_checkins(practitioner, time_zone=time_zone, program=program)
    with time_machine.travel(START, tick=False):
        enter(journey, practitioner)
    checkins = list(CheckIn.objects.filter(journey=journey).select_related("request_nudge"))
    assert [c.due_on for c in checkins] == [first_due + timedelta(weeks=n) for n in range(12)]
    assert all(c.status == CheckIn.Status.SCHEDULED for c in checkins)
    first = checkins[0]
    assert first.closes_at == first_closes_at, "closes at the end of the second day after it is due"
    assert first.request_nudge.send_at == send_at
    by_day = {c.due_on: c for c in checkins}
    assert by_day[after_dst_due].request_nudge.send_at == after_dst_send_at
    for checkin in checkins:
        nudge = checkin.request_nudge
        assert (nudge.kind, nudge.status, nudge.dedupe_key) == (
            "checkin_request",
            Nudge.Status.PENDING,
            f"checkin:{checkin.pk}:request",
        )
        assert nudge.created_by is None, "written by the schedule, not by the person who moved the journey"
    assert requests(journey).count() == 12


def test_the_request_links_to_the_check_in_page_with_a_token_that_names_the_check_in(practitioner):
    journey = journey_to_checkins(practitioner)
    enter(journey, practitioner)
    checkin = CheckIn.objects.filter(journey=journey).select_related("request_nudge").first()
    url = checkin.request_nudge.context["checkin_url"]
    assert url.startswith(SITE + "/")
    match = resolve(urlsplit(url).path)
    assert match.view_name == "compliance:checkin_answer"
    token = match.kwargs["token"]
    assert url == SITE + reverse("compliance:checkin_answer", args=[token])
    assert read_checkin_token(token) == checkin.pk


def test_a_program_sets_the_cadence_and_length_and_without_one_it_is_weekly_for_twelve_weeks(practitioner):
    fortnightly = Program.objects.create(name="Maintenance", weeks=8, checkin_every_days=14)
    with time_machine.travel(START, tick=False):
        with_program = journey_to_checkins(practitioner, program=fortnightly, time_zone="UTC")
        enter(with_program, practitioner)
        without = journey_to_checkins(practitioner, time_zone="UTC")
        enter(without, practitioner)
    days = list(CheckIn.objects.filter(journey=with_program).values_list("due_on", flat=True))
    assert days == [date(2026, 3, 7), date(2026, 3, 21), date(2026, 4, 4), date(2026, 4, 18)]
    assert CheckIn.objects.filter(journey=without).count() == 12


def test_a_tampered_or_foreign_token_is_refused():
    token = checkin_token(42)
    assert read_checkin_token(token) == 42
    tampered = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    with pytest.raises(signing.BadSignature, match="does not match"):
        read_checkin_token(tampered)
    with pytest.raises(signing.BadSignature, match="does not match"):
        read_checkin_token(unsubscribe_token(patient_id=42))
    with pytest.raises(signing.BadSignature, match="unexpected token content"):
        read_checkin_token(signing.dumps({"c": "42"}, salt="alliance.journeys.checkin"))


def test_a_token_older_than_max_age_is_refused_when_the_reader_asks():
    with time_machine.travel(START, tick=False):
        token = checkin_token(7)
    with time_machine.travel(START + timedelta(days=30), tick=False):
        assert read_checkin_token(token) == 7
        assert read_checkin_token(token, max_age=timedelta(days=31)) == 7
        with pytest.raises(signing.SignatureExpired, match="Signature age"):
            read_checkin_token(token, max_age=timedelta(days=29))


def test_scheduling_again_creates_nothing_new(practitioner):
    journey = journey_to_checkins(practitioner)
    enter(journey, practitioner)
    assert checkins_schedule(journey=journey, actor=practitioner) == []
    assert CheckIn.objects.filter(journey=journey).count() == 12
    assert requests(journey).count() == 12


def test_pausing_withdraws_the_unasked_check_ins_and_resuming_brings_back_only_those_still_to_come(
    practitioner,
):
    journey = journey_to_checkins(practitioner, time_zone="UTC")
    with time_machine.travel(START, tick=False):
        enter(journey, practitioner)
    first = CheckIn.objects.filter(journey=journey).select_related("request_nudge").first()
    assert first.due_on == date(2026, 2, 28)
    # The dispatcher sent the first request on its morning.
    Nudge.objects.filter(pk=first.request_nudge_id).update(
        status=Nudge.Status.SENT, sent_at=utc(2026, 2, 28, 10)
    )
    with time_machine.travel(utc(2026, 3, 2, 9), tick=False):
        pause(journey, practitioner)
    assert list(CheckIn.objects.filter(journey=journey)) == [first], "the asked check-in stays answerable"
    assert requests(journey).filter(status=Nudge.Status.PENDING).count() == 0
    with time_machine.travel(utc(2026, 3, 10, 9), tick=False):
        enter(journey, practitioner)  # resume, after the 7 March check-in would have gone out
    days = list(CheckIn.objects.filter(journey=journey).values_list("due_on", flat=True))
    assert days == [date(2026, 2, 28)] + [date(2026, 3, 14) + timedelta(weeks=n) for n in range(10)]
    pending = requests(journey).filter(status=Nudge.Status.PENDING)
    assert pending.count() == 10
    assert sorted(pending.values_list("dedupe_key", flat=True)) == sorted(
        f"checkin:{pk}:request"
        for pk in CheckIn.objects.filter(journey=journey).exclude(pk=first.pk).values_list("pk", flat=True)
    )


def test_pausing_and_resuming_on_the_same_day_leaves_one_check_in_and_one_pending_request_per_date(
    practitioner,
):
    journey = journey_to_checkins(practitioner)
    with time_machine.travel(START, tick=False):
        enter(journey, practitioner)
        before = list(CheckIn.objects.filter(journey=journey).values_list("due_on", flat=True))
        pause(journey, practitioner)
        enter(journey, practitioner)
        enter_again = list(CheckIn.objects.filter(journey=journey).values_list("due_on", flat=True))
    assert enter_again == before and len(before) == 12
    assert requests(journey).filter(status=Nudge.Status.PENDING).count() == 12
    assert requests(journey).filter(status=Nudge.Status.CANCELLED).count() == 12
    for checkin in CheckIn.objects.filter(journey=journey).select_related("request_nudge"):
        assert checkin.request_nudge.status == Nudge.Status.PENDING


def test_graduating_withdraws_the_check_ins_still_to_come(practitioner):
    journey = journey_to_checkins(practitioner)
    enter(journey, practitioner)
    journey_move(journey=journey, to_stage=Stage.GRADUATED, actor=practitioner)
    # what is left are graduation's "how are you now?" follow-ups, never program check-ins
    assert not CheckIn.objects.filter(journey=journey, kind=CheckIn.Kind.PROGRAM).exists()
    assert CheckIn.objects.filter(journey=journey, kind=CheckIn.Kind.FOLLOW_UP).count() == 3
    assert set(requests(journey).values_list("status", flat=True)) == {Nudge.Status.CANCELLED}


NEW_YORK = ZoneInfo("America/New_York")


@pytest.mark.parametrize(
    ("entered", "before", "after"),
    [
        # US clocks spring forward on 14 March 2027 and fall back on 7 November 2027.
        (utc(2027, 2, 20, 15), date(2027, 3, 13), date(2027, 3, 20)),
        (utc(2027, 10, 16, 15), date(2027, 11, 6), date(2027, 11, 13)),
    ],
)
def test_a_check_in_request_goes_at_the_patients_own_hour_across_a_dst_change(
    practitioner, entered, before, after
):
    journey = journey_to_checkins(practitioner)
    patient = journey.patient
    patient.checkin_hour = CheckinHour.EVENING
    patient.save(update_fields=["checkin_hour"])
    patient_services.consent_record(patient=patient, channel="email", granted=True, via="test")
    with time_machine.travel(entered, tick=False):
        enter(journey, practitioner)
    by_day = {c.due_on: c.request_nudge for c in CheckIn.objects.filter(journey=journey)}
    for due in (before, after):
        local = by_day[due].send_at.astimezone(NEW_YORK)
        assert (local.date(), local.hour, local.minute) == (due, 18, 0)
    assert by_day[before].send_at.hour != by_day[after].send_at.hour, "the UTC hour moves with the clocks"

    # Week by week, each request goes at its moment and not an hour before (the other offset).
    for due in sorted(d for d in by_day if d <= after):
        nudge = by_day[due]
        with time_machine.travel(nudge.send_at - timedelta(hours=1), tick=False):
            nudge_dispatch_due()
        nudge.refresh_from_db()
        assert nudge.status == Nudge.Status.PENDING
        with time_machine.travel(nudge.send_at, tick=False):
            nudge_dispatch_due()
        nudge.refresh_from_db()
        assert nudge.status == Nudge.Status.SENT, nudge.status_reason
        assert nudge.sent_at.astimezone(NEW_YORK).hour == 18


def test_without_a_chosen_hour_check_in_requests_go_at_ten(practitioner):
    journey = journey_to_checkins(practitioner, time_zone="Asia/Tokyo")
    with time_machine.travel(START, tick=False):
        enter(journey, practitioner)
    hours = {n.send_at.astimezone(ZoneInfo("Asia/Tokyo")).hour for n in requests(journey)}
    assert hours == {10}
