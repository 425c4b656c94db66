"""Graduation, celebrated: entering graduated sends the graduation message once and asks "how are you now?"
1, 3 and 6 months later through the same signed link page — answers that never count as adherence."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from compliance.models import CheckInAnswer, ComplianceLog
from compliance.selectors import patient_adherence, then_and_now
from journeys.models import Blueprint, BlueprintItem, CheckIn, Stage
from journeys.services.graduation import add_months, graduation_key
from journeys.services.stages import journey_move
from journeys.tokens import checkin_token
from nudges import services as nudge_services
from nudges.models import Kind, Nudge, NudgeRule
from patients.services import care_team_set_lead, consent_record
from tests.journeys.test_stages import journey_at
from tests.support.patient_page import tab_url

pytestmark = pytest.mark.django_db

GRADUATION_DAY = datetime(2027, 3, 15, 15, 0, tzinfo=UTC)  # 11:00 in New York


@pytest.fixture
def at_checkins(practitioner, staff):
    journey = journey_at(Stage.CHECK_INS, practitioner)
    patient = journey.patient
    consent_record(patient=patient, channel="email", granted=True, actor=staff, via="test")
    care_team_set_lead(patient=patient, user=practitioner, actor=staff)
    return journey


def graduate(journey, actor):
    with time_machine.travel(GRADUATION_DAY, tick=False):
        return journey_move(journey=journey, to_stage=Stage.GRADUATED, actor=actor)


def test_moving_to_graduated_schedules_one_graduation_message_and_three_follow_ups(at_checkins, practitioner):
    graduate(at_checkins, practitioner)

    graduation = Nudge.objects.filter(patient=at_checkins.patient, kind=Kind.GRADUATION)
    assert graduation.count() == 1
    assert graduation.get().dedupe_key == graduation_key(at_checkins.pk)
    follow_ups = list(
        CheckIn.objects.filter(journey=at_checkins, kind=CheckIn.Kind.FOLLOW_UP).order_by("due_on")
    )
    assert [c.due_on for c in follow_ups] == [date(2027, 4, 15), date(2027, 6, 15), date(2027, 9, 15)]
    requests = Nudge.objects.filter(patient=at_checkins.patient, kind=Kind.FOLLOW_UP_CHECKIN)
    assert requests.count() == 3
    assert {c.request_nudge_id for c in follow_ups} == set(requests.values_list("pk", flat=True))
    assert all("/c/" in n.context["checkin_url"] or "checkin" in n.context["checkin_url"] for n in requests)


def test_the_graduation_message_goes_out_in_its_shipped_words(at_checkins, practitioner, mailoutbox):
    graduate(at_checkins, practitioner)
    with time_machine.travel(GRADUATION_DAY + timedelta(minutes=1), tick=False):
        nudge_services.nudge_dispatch_due()
    [mail] = [m for m in mailoutbox if "Congratulations" in m.subject]
    assert "You did it." in mail.body


def test_graduating_again_schedules_nothing_more(at_checkins, practitioner):
    graduate(at_checkins, practitioner)
    from journeys.services.graduation import graduation_celebrate

    graduation_celebrate(journey=at_checkins, at=GRADUATION_DAY)
    assert Nudge.objects.filter(patient=at_checkins.patient, kind=Kind.GRADUATION).count() == 1
    assert CheckIn.objects.filter(journey=at_checkins, kind=CheckIn.Kind.FOLLOW_UP).count() == 3


def test_a_switched_off_graduation_rule_sends_no_message_but_still_follows_up(at_checkins, practitioner):
    NudgeRule.objects.filter(kind=Kind.GRADUATION).update(enabled=False)
    graduate(at_checkins, practitioner)
    assert not Nudge.objects.filter(kind=Kind.GRADUATION).exists()
    assert CheckIn.objects.filter(journey=at_checkins, kind=CheckIn.Kind.FOLLOW_UP).count() == 3


def test_months_are_added_on_the_calendar():
    assert add_months(date(2027, 1, 31), 1) == date(2027, 2, 28)
    assert add_months(date(2027, 8, 31), 6) == date(2028, 2, 29)
    assert add_months(date(2027, 11, 15), 3) == date(2028, 2, 15)


def test_a_follow_up_is_answered_on_the_same_page_and_never_counts_as_adherence(
    client, at_checkins, practitioner
):
    blueprint = Blueprint.objects.create(
        journey=at_checkins,
        version=1,
        status="published",
        created_by=practitioner,
        published_at=timezone.now(),
    )
    BlueprintItem.objects.create(blueprint=blueprint, kind="supplement", title="Magnesium", position=0)
    graduate(at_checkins, practitioner)
    follow_up = (
        CheckIn.objects.filter(journey=at_checkins, kind=CheckIn.Kind.FOLLOW_UP).order_by("due_on").first()
    )
    url = reverse("compliance:checkin_answer", args=[checkin_token(follow_up.pk)])
    with time_machine.travel(datetime(2027, 4, 15, 16, 0, tzinfo=UTC), tick=False):
        page = client.get(url).content.decode()
        assert "how are you now?" in page
        assert "Magnesium" not in page  # no plan items to report on
        response = client.post(url, {"where_it_failed": "Still sleeping well", "energy": "8"})
        assert response.status_code == 200
        adherence = patient_adherence(patient_id=at_checkins.patient_id, today=date(2027, 4, 15))
    answer = CheckInAnswer.objects.get(checkin=follow_up)
    assert (answer.where_it_failed, answer.energy) == ("Still sleeping well", 8)
    assert not ComplianceLog.objects.filter(checkin=follow_up).exists()
    assert (adherence.answered, adherence.score) == (0, None)


def test_a_missed_follow_up_sends_no_missed_check_in_message(at_checkins, practitioner):
    from compliance.detection import checkins_mark_missed

    graduate(at_checkins, practitioner)
    checkins_mark_missed(now=datetime(2027, 5, 1, tzinfo=UTC))
    assert not Nudge.objects.filter(kind=Kind.CHECKIN_MISSED).exists()


def test_the_patient_page_shows_then_and_now(client_for, at_checkins, practitioner, staff):
    blueprint = Blueprint.objects.create(
        journey=at_checkins,
        version=1,
        status="published",
        created_by=practitioner,
        published_at=timezone.now(),
    )
    item = BlueprintItem.objects.create(blueprint=blueprint, kind="supplement", title="Magnesium", position=0)
    patient = at_checkins.patient
    for due, status, energy in ((date(2027, 1, 4), "missed", 3), (date(2027, 3, 8), "done", 8)):
        # The journey's weekly check-ins are scheduled from today: one may already fall on this Monday.
        CheckIn.objects.filter(journey=at_checkins, due_on=due).delete()
        checkin = CheckIn.objects.create(
            journey=at_checkins, due_on=due, closes_at=timezone.now(), status=CheckIn.Status.ANSWERED
        )
        answer = CheckInAnswer.objects.create(checkin=checkin, patient=patient, energy=energy)
        ComplianceLog.objects.create(answer=answer, checkin=checkin, item=item, status=status)
    graduate(at_checkins, practitioner)
    shown = then_and_now(patient_id=patient.pk)
    assert (shown.then.due_on, shown.then.score, shown.now.score) == (date(2027, 1, 4), 0.0, 100.0)
    assert dict(shown.then.ratings)["Energy"] == 3 and dict(shown.now.ratings)["Energy"] == 8
    assert len(shown.follow_ups) == 3

    body = client_for(practitioner).get(tab_url(patient, "journey")).content.decode()
    table = body[body.index('id="then-and-now"') :]
    assert "100%" in table and "0%" in table and "Energy" in table
    staff_body = client_for(staff).get(tab_url(patient, "journey")).content.decode()
    assert "Energy <span" not in staff_body  # the 0–10 self-ratings stay with clinical roles
