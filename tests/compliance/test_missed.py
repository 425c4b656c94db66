from datetime import UTC, datetime, timedelta

import pytest

from accounts.models import AccessEvent
from compliance.detection import checkins_mark_missed
from journeys.models import CheckIn, Journey, Stage
from journeys.tokens import read_checkin_token
from nudges import rendering
from nudges.models import Kind, Nudge, NudgeRule
from tests.compliance.conftest import MONDAY, week

pytestmark = pytest.mark.django_db

CLOSES = datetime(2026, 11, 5, 5, 0, tzinfo=UTC)  # midnight in New York, three days after MONDAY
SECOND = timedelta(seconds=1)


@pytest.fixture
def checkin(plan):
    journey, _ = plan
    return CheckIn.objects.create(journey=journey, due_on=MONDAY, closes_at=CLOSES)


def status(checkin):
    checkin.refresh_from_db()
    return checkin.status


def follow_ups():
    return Nudge.objects.filter(kind=Kind.CHECKIN_MISSED)


def test_a_check_in_one_second_before_it_closes_is_still_open(checkin):
    assert checkins_mark_missed(now=CLOSES - SECOND) == 0
    assert status(checkin) == "scheduled"
    assert not follow_ups().exists()


@pytest.mark.parametrize("after", [timedelta(0), SECOND])
def test_a_check_in_is_missed_from_the_moment_it_closes(checkin, after):
    assert checkins_mark_missed(now=CLOSES + after) == 1
    assert status(checkin) == "missed"


def test_marking_twice_marks_once_and_schedules_one_follow_up(checkin):
    assert checkins_mark_missed(now=CLOSES + SECOND) == 1
    assert checkins_mark_missed(now=CLOSES + 2 * SECOND) == 0

    nudge = follow_ups().get()
    assert nudge.dedupe_key == f"checkin:{checkin.pk}:missed"
    assert nudge.patient == checkin.journey.patient


def test_the_follow_up_goes_when_the_clinics_rule_says_a_day_after_closing(checkin):
    checkins_mark_missed(now=CLOSES + SECOND)

    nudge = follow_ups().get()
    assert nudge.send_at == CLOSES + timedelta(days=1)
    assert nudge.expires_at == CLOSES + timedelta(days=7)


def test_a_follow_up_found_late_goes_now_rather_than_in_the_past(checkin):
    late = CLOSES + timedelta(days=2)
    checkins_mark_missed(now=late)
    assert follow_ups().get().send_at == late


def test_the_follow_up_links_the_next_check_in_still_open(checkin):
    journey = checkin.journey
    later = CheckIn.objects.create(
        journey=journey, due_on=MONDAY + timedelta(days=14), closes_at=CLOSES + timedelta(days=14)
    )
    following = CheckIn.objects.create(
        journey=journey, due_on=MONDAY + timedelta(days=7), closes_at=CLOSES + timedelta(days=7)
    )

    checkins_mark_missed(now=CLOSES + SECOND)

    url = follow_ups().get().context["checkin_url"]
    assert read_checkin_token(url.rstrip("/").rsplit("/", 1)[-1]) == following.pk != later.pk


def test_with_no_check_in_left_the_follow_up_has_no_link(checkin):
    checkins_mark_missed(now=CLOSES + SECOND)
    assert follow_ups().get().context == {}


def test_answered_check_ins_are_never_marked_missed(plan):
    journey, _ = plan
    answered = week(journey, MONDAY, ["done", "done", "done"])
    CheckIn.objects.filter(pk=answered.pk).update(closes_at=CLOSES)

    assert checkins_mark_missed(now=CLOSES + SECOND) == 0
    assert status(answered) == "answered"


@pytest.mark.parametrize("stage", [Stage.PAUSED, Stage.WITHDRAWN])
def test_a_journey_no_longer_at_check_ins_gets_no_follow_up(checkin, stage):
    Journey.objects.filter(pk=checkin.journey_id).update(stage=stage)

    assert checkins_mark_missed(now=CLOSES + SECOND) == 1
    assert status(checkin) == "missed"
    assert not follow_ups().exists()


def test_with_the_rule_switched_off_no_follow_up_is_scheduled(checkin):
    NudgeRule.objects.filter(kind=Kind.CHECKIN_MISSED).update(enabled=False)

    assert checkins_mark_missed(now=CLOSES + SECOND) == 1
    assert not follow_ups().exists()


def test_marking_a_check_in_missed_is_audited(checkin):
    checkins_mark_missed(now=CLOSES + SECOND)

    event = AccessEvent.objects.get(object_type__model="checkin", object_id=str(checkin.pk))
    assert (event.action, event.actor, event.actor_label) == ("update", None, "missed check-in sweep")
    assert "a gentle follow-up is scheduled" in event.detail


def test_the_follow_up_reads_kindly_without_a_link(checkin):
    checkins_mark_missed(now=CLOSES + SECOND)
    nudge = follow_ups().get()
    context = {"first_name": "Renée", "clinic_name": "Clinic", "practitioner_name": "", **nudge.context}

    for channel in ("email", "sms"):
        text = rendering.render_message(kind=nudge.kind, channel=channel, context=context).text
        assert "tell us what got in the way" in text.lower()
        assert "None" not in text and "{" not in text and "http" not in text


def test_the_sweep_costs_the_same_statements_for_5_and_50_check_ins(db):
    """Set-based: marking 5 check-ins missed, with their follow-ups (each linking its journey's next
    check-in) and audit rows, costs the statements 50 cost."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.factories import PatientFactory

    counts = {}
    for n in (5, 50):
        closes = CLOSES + timedelta(days=len(counts))
        nexts = {}
        for _ in range(n):
            journey = Journey.objects.create(patient=PatientFactory(), stage=Stage.CHECK_INS)
            CheckIn.objects.create(journey=journey, due_on=MONDAY, closes_at=closes)
            nexts[journey.patient_id] = CheckIn.objects.create(
                journey=journey, due_on=MONDAY + timedelta(days=7), closes_at=closes + timedelta(days=7)
            ).pk
        audited = AccessEvent.objects.filter(actor_label="missed check-in sweep").count()

        with CaptureQueriesContext(connection) as run:
            assert checkins_mark_missed(now=closes + SECOND) == n

        counts[n] = len(run)
        made = follow_ups().filter(patient_id__in=nexts)
        assert {
            nudge.patient_id: read_checkin_token(nudge.context["checkin_url"].rstrip("/").rsplit("/", 1)[-1])
            for nudge in made
        } == nexts
        assert AccessEvent.objects.filter(actor_label="missed check-in sweep").count() == audited + n
    assert counts[5] == counts[50], counts
