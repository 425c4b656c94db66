from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command

from accounts.models import AccessEvent, DomainEvent
from compliance import detection, tasks
from compliance.models import Alert, CheckInAnswer, ClinicSettings
from journeys.models import BlueprintItem, CheckIn, Journey, Stage
from nudges.models import Kind, Nudge, NudgeRule
from tests.compliance.conftest import MONDAY, week
from tests.factories import CareTeamMemberFactory, PatientFactory

pytestmark = pytest.mark.django_db

# Noon in New York, ten days after the first check-in of the fixtures.
NOW = datetime(2026, 11, 12, 17, 0, tzinfo=UTC)


@pytest.fixture
def led(plan, practitioner):
    """The ``plan`` patient with Dr. Bob Moss as their lead practitioner."""
    journey, items = plan
    CareTeamMemberFactory(patient=journey.patient, user=practitioner, role="lead")
    return journey, items


@pytest.fixture
def seven_items(led):
    """The plan widened to seven items, so that scores like 69.2% can be made from real answers."""
    journey, items = led
    blueprint = items[0].blueprint
    for position, title in enumerate(["Sleep by 10", "Fish oil", "Breathing", "Journal"], start=3):
        BlueprintItem.objects.create(blueprint=blueprint, kind="lifestyle", title=title, position=position)
    return journey


@pytest.fixture(autouse=True)
def each_rule_at_its_line(db):
    """These tests pin each rule at its own boundary, with the margin and the one-miss silence rule set
    aside; the defaults are tested over simulated weeks in ``test_falter_rules``."""
    rules(low_margin_points=0, min_reports=1, missed_in_a_row=2, drop_points=25)


def rules(**changes):
    ClinicSettings.load()
    ClinicSettings.objects.filter(pk=1).update(**changes)


def alerts(journey, reason=None):
    qs = Alert.objects.filter(patient=journey.patient)
    return qs.filter(reason=reason) if reason else qs


def faltering(journey):
    """Two answered check-ins at 0%: low adherence."""
    week(journey, MONDAY, ["missed", "missed", "missed"])
    week(journey, MONDAY + timedelta(days=7), ["missed", "missed", "missed"])


# --- Low adherence --------------------------------------------------------------------------------


def test_low_adherence_opens_an_alert_just_below_the_threshold(seven_items):
    journey = seven_items
    week(journey, MONDAY, ["done"] * 5 + ["missed"] * 2)
    week(journey, MONDAY + timedelta(days=7), ["done"] * 4 + ["missed"] * 2 + ["paused"])  # 9 of 13: 69.2%

    opened = detection.detect_faltering(now=NOW)

    assert [(a.reason, a.detail) for a in opened] == [("low_adherence", "69.2% over the last two check-ins")]
    alert = opened[0]
    assert (alert.journey, alert.opened_at, alert.is_open) == (journey, NOW, True)


def test_an_opened_alert_is_an_event_for_the_clinics_webhooks_with_ids_only(seven_items):
    journey = seven_items
    faltering(journey)

    (alert,) = detection.detect_faltering(now=NOW)

    event = DomainEvent.objects.get(name="alert.opened")
    assert (event.patient_id, event.object_id, event.data) == (
        journey.patient_id,
        alert.pk,
        {"alert_id": alert.pk, "reason": "low_adherence"},
    )


def test_low_adherence_exactly_at_the_threshold_opens_nothing(led):
    journey, _ = led
    week(journey, MONDAY, ["done", "done", "partial"])
    week(journey, MONDAY + timedelta(days=7), ["done", "missed", "paused"])  # 3.5 of 5: 70.0%

    assert detection.detect_faltering(now=NOW) == []


def test_low_adherence_needs_two_answered_check_ins(led):
    journey, _ = led
    week(journey, MONDAY, ["missed", "missed", "missed"])

    assert detection.detect_faltering(now=NOW) == []


def test_the_threshold_comes_from_clinic_settings(led):
    journey, _ = led
    week(journey, MONDAY, ["done", "done", "partial"])
    week(journey, MONDAY + timedelta(days=7), ["done", "missed", "paused"])  # 70.0%
    rules(adherence_threshold=71)

    assert [a.reason for a in detection.detect_faltering(now=NOW)] == ["low_adherence"]


# --- Missed check-ins -----------------------------------------------------------------------------


def test_one_missed_check_in_is_not_yet_a_pattern(led):
    journey, _ = led
    week(journey, MONDAY, ["done", "done", "done"])
    week(journey, MONDAY + timedelta(days=7), missed=True)

    assert detection.detect_faltering(now=NOW) == []


def test_two_missed_check_ins_in_a_row_open_an_alert(led):
    journey, _ = led
    week(journey, MONDAY - timedelta(days=7), ["done", "done", "done"])
    week(journey, MONDAY, missed=True)
    week(journey, MONDAY + timedelta(days=7), missed=True)
    week(journey, MONDAY + timedelta(days=14))  # still open: not yet missed, and no break in the run

    opened = detection.detect_faltering(now=NOW)

    assert [(a.reason, a.detail) for a in opened] == [("missed_checkins", "2 check-ins missed in a row")]


def test_an_answer_between_two_misses_breaks_the_run(led):
    journey, _ = led
    week(journey, MONDAY - timedelta(days=7), missed=True)
    week(journey, MONDAY, ["done", "done", "done"])
    week(journey, MONDAY + timedelta(days=7), missed=True)

    assert detection.detect_faltering(now=NOW) == []


def test_a_closed_check_in_not_yet_marked_missed_counts_as_missed(led):
    journey, _ = led
    week(journey, MONDAY, missed=True)
    CheckIn.objects.create(journey=journey, due_on=MONDAY + timedelta(days=7), closes_at=NOW)

    assert [a.reason for a in detection.detect_faltering(now=NOW)] == ["missed_checkins"]


def test_one_missed_check_in_is_enough_when_the_clinic_says_so(led):
    journey, _ = led
    week(journey, MONDAY, missed=True)
    rules(missed_in_a_row=1)

    assert [a.detail for a in detection.detect_faltering(now=NOW)] == ["The last check-in was missed"]


# --- Adherence drop -------------------------------------------------------------------------------

# Noon in New York on the last day of the second 28-day window: MONDAY … +27 is the window before.
DROP_NOW = datetime(2026, 12, 27, 17, 0, tzinfo=UTC)


def test_a_drop_of_25_points_from_the_check_ins_before_opens_an_alert(led):
    journey, _ = led
    rules(adherence_threshold=0)  # only the drop rule speaks
    week(journey, MONDAY, ["done", "done", "done"])  # window before: 100%
    week(journey, MONDAY + timedelta(days=28), ["done", "done", "done"])
    week(journey, MONDAY + timedelta(days=35), ["done", "partial", "missed"])  # this window: 4.5 of 6, 75%

    opened = detection.detect_faltering(now=DROP_NOW)

    assert [(a.reason, a.detail) for a in opened] == [
        ("adherence_drop", "Down 25 points, from 100% to 75%, over the last two check-ins")
    ]


def test_a_drop_of_24_9_points_opens_nothing(seven_items):
    journey = seven_items
    rules(adherence_threshold=0)
    # The window before: 9.5 of 11 = 86.4%.
    week(journey, MONDAY, ["done"] * 7)
    week(
        journey,
        MONDAY + timedelta(days=7),
        ["done", "done", "partial", "missed", "paused", "paused", "paused"],
    )
    # This window: 8 of 13 = 61.5%.
    week(journey, MONDAY + timedelta(days=28), ["done"] * 4 + ["missed"] * 3)
    week(journey, MONDAY + timedelta(days=35), ["done"] * 4 + ["missed"] * 2 + ["paused"])

    assert detection.detect_faltering(now=DROP_NOW) == []


# --- Once, and only for patients at check-ins -----------------------------------------------------


def test_running_detection_twice_opens_one_alert_one_outreach_and_one_email(led, mailoutbox, practitioner):
    journey, _ = led
    faltering(journey)

    first = detection.detect_faltering(now=NOW)
    second = detection.detect_faltering(now=NOW + timedelta(hours=1))

    assert len(first) == 1 and second == []
    alert = alerts(journey).get()
    nudge = Nudge.objects.get(patient=journey.patient, kind=Kind.ADHERENCE_OUTREACH)
    assert alert.outreach_nudge == nudge
    assert nudge.dedupe_key == f"alert:{alert.pk}:outreach"
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == [practitioner.email]


def test_the_email_names_the_reason_and_links_the_patient_without_clinical_detail(led, mailoutbox, settings):
    journey, _ = led
    faltering(journey)

    [alert] = detection.detect_faltering(now=NOW)

    [email] = mailoutbox
    assert email.subject == "Alliance: a patient of yours may need a hand"
    assert "Renée Côté may need a hand:" in email.body
    assert "Low adherence: 0% over the last two check-ins." in email.body
    assert f"{settings.ALLIANCE_SITE_URL}/patients/{journey.patient_id}/" in email.body
    assert f"/alerts/{alert.pk}/" in email.body
    for item in ("Magnesium", "No gluten", "Walk"):
        assert item not in email.body


def test_the_email_subject_never_names_the_patient_and_its_html_part_says_the_same(led, mailoutbox, settings):
    journey, _ = led
    journey.patient.last_name = "<b>O'Brien</b>"
    journey.patient.save()
    faltering(journey)

    [alert] = detection.detect_faltering(now=NOW)

    [email] = mailoutbox
    [(html, mimetype)] = email.alternatives
    assert mimetype == "text/html"
    for name in ("Renée", "O'Brien", "Côté"):
        assert name not in email.subject
    assert "Renée <b>O'Brien</b> may need a hand:" in email.body  # plain text: not HTML-escaped
    assert "Renée &lt;b&gt;O&#x27;Brien&lt;/b&gt;" in html and "<b>" not in html
    assert "Low adherence: 0% over the last two check-ins." in html
    assert f'href="{settings.ALLIANCE_SITE_URL}/patients/{journey.patient_id}/"' in html
    assert f'href="{settings.ALLIANCE_SITE_URL}/alerts/{alert.pk}/"' in html


def test_two_reasons_at_once_open_one_alert_carrying_both_with_one_outreach_and_one_email(led, mailoutbox):
    journey, _ = led
    faltering(journey)
    week(journey, MONDAY + timedelta(days=14), missed=True)
    CheckIn.objects.create(journey=journey, due_on=MONDAY + timedelta(days=21), closes_at=NOW)
    NudgeRule.objects.filter(kind=Kind.CHECKIN_MISSED).update(enabled=False)  # no follow-up to lean on

    [alert] = detection.detect_faltering(now=NOW)

    assert [row["reason"] for row in alert.reasons] == ["missed_checkins", "low_adherence"]
    assert alert.reason == "missed_checkins"
    assert Nudge.objects.filter(kind=Kind.ADHERENCE_OUTREACH).count() == 1
    assert alert.outreach_nudge == Nudge.objects.get()
    assert len(mailoutbox) == 1
    assert "Missed check-ins" in mailoutbox[0].body and "Low adherence" in mailoutbox[0].body


def test_a_new_reason_joins_the_open_alert_without_writing_to_anyone_again(led, mailoutbox):
    journey, _ = led
    faltering(journey)
    [alert] = detection.detect_faltering(now=NOW)
    week(journey, MONDAY + timedelta(days=14), missed=True)
    week(journey, MONDAY + timedelta(days=21), missed=True)

    assert detection.detect_faltering(now=NOW) == []

    alert.refresh_from_db()
    assert alerts(journey).get() == alert and alert.is_open
    assert [row["reason"] for row in alert.reasons] == ["low_adherence", "missed_checkins"]
    assert Nudge.objects.filter(kind=Kind.ADHERENCE_OUTREACH).count() == 1
    assert len(mailoutbox) == 1


def answer_moments(journey, moment):
    CheckIn.objects.filter(journey=journey, status="answered").update(answered_at=moment)


def resolve(alert, practitioner, at):
    Alert.objects.filter(pk=alert.pk).update(resolved_at=at, resolved_by=practitioner, resolution="call")


def test_an_answered_alert_is_not_reopened_by_the_data_it_answered(led, mailoutbox, practitioner):
    journey, _ = led
    faltering(journey)
    answer_moments(journey, NOW - timedelta(days=1))
    [first] = detection.detect_faltering(now=NOW)
    resolve(first, practitioner, NOW + timedelta(hours=1))

    assert detection.detect_faltering(now=NOW + timedelta(hours=2)) == []
    assert detection.falter_findings(now=NOW + timedelta(hours=2)) == []
    assert len(mailoutbox) == 1


def test_a_resolved_alert_lets_a_new_one_open_when_new_answers_still_falter(led, mailoutbox, practitioner):
    journey, _ = led
    faltering(journey)
    answer_moments(journey, NOW - timedelta(days=1))
    [first] = detection.detect_faltering(now=NOW)
    resolve(first, practitioner, NOW + timedelta(hours=1))
    latest = week(journey, MONDAY + timedelta(days=14), ["missed", "partial", "missed"])
    CheckIn.objects.filter(pk=latest.pk).update(answered_at=NOW + timedelta(days=3))
    assert detection.detect_faltering(now=NOW + timedelta(days=3, hours=1)) == []  # one answer is not yet two
    latest = week(journey, MONDAY + timedelta(days=21), ["missed", "partial", "missed"])
    CheckIn.objects.filter(pk=latest.pk).update(answered_at=NOW + timedelta(days=10))

    [second] = detection.detect_faltering(now=NOW + timedelta(days=10, hours=1))

    assert second.pk != first.pk and second.reason == first.reason
    assert second.detail == "16.7% over the last two check-ins"
    assert alerts(journey).filter(resolved_at__isnull=True).get() == second
    # Ten days after the first outreach: no second one within the clinic's 14 days.
    assert Nudge.objects.filter(kind=Kind.ADHERENCE_OUTREACH).count() == 1 and second.outreach_nudge is None
    assert len(mailoutbox) == 2


def test_a_resolved_missed_check_ins_alert_opens_again_only_after_another_miss(led, practitioner):
    journey, _ = led
    rules(missed_in_a_row=1)
    for days in (0, 7):
        CheckIn.objects.create(
            journey=journey, due_on=MONDAY + timedelta(days=days), closes_at=NOW - timedelta(days=8 - days)
        )
    [first] = detection.detect_faltering(now=NOW)
    resolve(first, practitioner, NOW)
    assert detection.detect_faltering(now=NOW + timedelta(days=1)) == []

    CheckIn.objects.create(
        journey=journey, due_on=MONDAY + timedelta(days=14), closes_at=NOW + timedelta(days=6)
    )

    [second] = detection.detect_faltering(now=NOW + timedelta(days=6))
    assert second.reason == "missed_checkins"


def test_an_alert_opened_by_another_run_meanwhile_is_not_opened_again(led, monkeypatch):
    journey, _ = led
    faltering(journey)
    findings = detection.falter_findings(now=NOW)
    Alert.objects.create(patient=journey.patient, reason="low_adherence", detail="seen by another run")
    monkeypatch.setattr(detection, "falter_findings", lambda now: findings)

    assert detection.detect_faltering(now=NOW) == []
    assert alerts(journey).count() == 1


@pytest.mark.parametrize("stage", [Stage.BLUEPRINT, Stage.PAUSED, Stage.GRADUATED])
def test_patients_not_at_check_ins_are_left_alone(led, stage):
    journey, _ = led
    faltering(journey)
    Journey.objects.filter(pk=journey.pk).update(stage=stage)

    assert detection.detect_faltering(now=NOW) == []


def test_ended_journeys_and_archived_patients_are_left_alone(led):
    journey, _ = led
    faltering(journey)
    journey.patient.archived = True
    journey.patient.save()
    assert detection.detect_faltering(now=NOW) == []

    journey.patient.archived = False
    journey.patient.save()
    Journey.objects.filter(pk=journey.pk).update(ended_at=NOW)
    assert detection.detect_faltering(now=NOW) == []


def test_without_a_lead_the_alert_opens_and_no_email_goes(plan, mailoutbox):
    journey, _ = plan
    faltering(journey)

    assert len(detection.detect_faltering(now=NOW)) == 1
    assert mailoutbox == []


def test_with_outreach_switched_off_the_alert_and_email_still_happen(led, mailoutbox):
    journey, _ = led
    faltering(journey)
    NudgeRule.objects.filter(kind=Kind.ADHERENCE_OUTREACH).update(enabled=False)

    [alert] = detection.detect_faltering(now=NOW)

    assert alert.outreach_nudge is None
    assert not Nudge.objects.filter(kind=Kind.ADHERENCE_OUTREACH).exists()
    assert len(mailoutbox) == 1 and "scheduled to go" not in mailoutbox[0].body


def test_opening_an_alert_is_audited(led):
    journey, _ = led
    faltering(journey)

    [alert] = detection.detect_faltering(now=NOW)

    event = AccessEvent.objects.get(object_id=str(alert.pk), object_type__model="alert")
    assert (event.action, event.actor, event.actor_label, event.patient_id) == (
        "create",
        None,
        "falter detection",
        journey.patient_id,
    )


def faltering_clinic(n, practitioner, *, lead_every=2):
    """``n`` patients at check-ins, each with a plan of three items and two check-ins answered at 0% (low
    adherence), every other one with a lead practitioner; outreach an hour after the alert (not due yet)."""
    NudgeRule.objects.update_or_create(
        kind=Kind.ADHERENCE_OUTREACH, defaults={"enabled": True, "offsets_minutes": [60]}
    )
    blueprint_items = []
    for n_ in range(n):
        patient = PatientFactory()
        journey = Journey.objects.create(patient=patient, stage=Stage.CHECK_INS)
        blueprint = journey.blueprints.create(version=1, status="published", created_by=practitioner)
        blueprint_items += [
            BlueprintItem(blueprint=blueprint, kind="lifestyle", title=f"Item {i}", position=i)
            for i in range(3)
        ]
        if n_ % lead_every == 0:
            CareTeamMemberFactory(patient=patient, user=practitioner, role="lead")
    BlueprintItem.objects.bulk_create(blueprint_items)
    for journey in Journey.objects.filter(stage=Stage.CHECK_INS):
        faltering(journey)


def test_a_detection_run_costs_the_same_queries_for_5_and_50_patients(practitioner, mailoutbox):
    """Set-based: opening 5 alerts (with their outreach, audit rows and the leads' emails) costs what
    opening 50 costs, and so does a run that finds nothing new."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts = {}
    for n in (5, 50):
        Journey.objects.update(stage=Stage.GRADUATED)  # the smaller clinic's patients leave the run
        faltering_clinic(n, practitioner)
        patients = list(Journey.objects.filter(stage=Stage.CHECK_INS).values_list("patient_id", flat=True))
        with CaptureQueriesContext(connection) as first:
            opened = detection.detect_faltering(now=NOW)
        with CaptureQueriesContext(connection) as again:
            assert detection.detect_faltering(now=NOW) == []
        assert len(opened) == n
        assert Nudge.objects.filter(kind=Kind.ADHERENCE_OUTREACH, patient_id__in=patients).count() == n
        assert AccessEvent.objects.filter(action="create", patient_id__in=patients).count() == n
        counts[n] = (len(first), len(again))
    assert counts[5] == counts[50], counts
    assert counts[50][1] <= 6, counts
    assert len(mailoutbox) == 5 // 2 + 1 + 50 // 2


def test_a_run_adding_reasons_to_many_open_alerts_costs_what_it_costs_for_few(practitioner):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts = {}
    for n in (5, 50):
        Journey.objects.update(stage=Stage.GRADUATED)
        faltering_clinic(n, practitioner)
        detection.detect_faltering(now=NOW)
        for journey in Journey.objects.filter(stage=Stage.CHECK_INS):
            week(journey, MONDAY + timedelta(days=14), missed=True)
            week(journey, MONDAY + timedelta(days=21), missed=True)
        with CaptureQueriesContext(connection) as joined:
            detection.detect_faltering(now=NOW)
        counts[n] = len(joined)
        assert [
            [row["reason"] for row in alert.reasons]
            for alert in Alert.objects.filter(journey__stage=Stage.CHECK_INS)
        ] == [["low_adherence", "missed_checkins"]] * n
    assert counts[5] == counts[50], counts


def test_a_run_works_through_the_journeys_a_chunk_at_a_time_committing_each(
    practitioner, monkeypatch, django_assert_max_num_queries
):
    """A run cut short (Celery's time limit) keeps the alerts of the chunks it finished."""
    monkeypatch.setattr(detection, "DETECTION_CHUNK", 4)
    faltering_clinic(10, practitioner)
    calls = []
    real = detection._plans_for

    def stop_at_the_third_chunk(journeys, *args):
        calls.append(len(journeys))
        if len(calls) == 3:
            raise TimeoutError("time limit")
        return real(journeys, *args)

    monkeypatch.setattr(detection, "_plans_for", stop_at_the_third_chunk)
    with pytest.raises(TimeoutError):
        detection.detect_faltering(now=NOW)

    assert calls == [4, 4, 2]
    assert Alert.objects.count() == 8
    monkeypatch.setattr(detection, "_plans_for", real)
    assert len(detection.detect_faltering(now=NOW)) == 2
    assert Alert.objects.count() == 10


def test_old_check_ins_beyond_the_rules_window_are_not_read(led):
    """Four answered check-ins and the baseline window before them are all the rules read: a year of older
    answers at 0% changes no finding, and it is not even read."""
    journey, _ = led
    for n in range(40):
        week(journey, MONDAY - timedelta(days=7 * (50 - n)), ["missed", "missed", "missed"])
    for n in range(4):
        week(journey, MONDAY + timedelta(days=7 * n), ["done", "done", "done"])
    window = ClinicSettings.load().window_days

    history = detection._history([journey.pk], NOW + timedelta(days=28), window)[journey.pk]

    assert len(history) == 4
    assert all(s.due_on >= MONDAY - timedelta(days=window) for s in history)
    assert detection.detect_faltering(now=NOW + timedelta(days=28)) == []


# --- The command and the tasks --------------------------------------------------------------------


def test_the_dry_run_says_what_would_happen_and_changes_nothing(led, capsys, mailoutbox, time_machine):
    time_machine.move_to(NOW)
    journey, _ = led
    faltering(journey)
    CheckIn.objects.create(
        journey=journey, due_on=MONDAY - timedelta(days=7), closes_at=NOW - timedelta(days=1)
    )

    call_command("detect_faltering", "--dry-run")

    out = capsys.readouterr().out
    assert "1 check-in would be marked missed." in out
    assert "Renée Côté: Low adherence (0% over the last two check-ins)" in out
    assert not Alert.objects.exists() and mailoutbox == []
    assert CheckIn.objects.filter(status="scheduled").count() == 1


def test_the_command_marks_missed_check_ins_and_opens_alerts(led, capsys, mailoutbox, time_machine):
    time_machine.move_to(NOW)
    journey, _ = led
    faltering(journey)

    call_command("detect_faltering")
    call_command("detect_faltering")

    out = capsys.readouterr().out
    assert "1 alert opened." in out and "0 alerts opened." in out
    assert alerts(journey).count() == 1 and len(mailoutbox) == 1


def test_the_beat_tasks_call_the_services(led, mailoutbox, time_machine):
    time_machine.move_to(NOW)
    journey, _ = led
    faltering(journey)
    CheckIn.objects.create(
        journey=journey, due_on=MONDAY - timedelta(days=7), closes_at=NOW - timedelta(days=1)
    )

    assert tasks.mark_missed() == 1
    assert tasks.detect_faltering() >= 1
    assert tasks.detect_faltering() == 0


def test_two_runs_adding_reasons_to_one_alert_at_once_keep_both(led):
    """Each run planned from what it read before the other wrote: the second must not write back the
    stale list and lose the first run's reason (the alert row is locked and read again)."""
    journey, _ = led
    faltering(journey)
    [alert] = detection.detect_faltering(now=NOW)
    stale = detection._open_alerts()[journey.patient_id]
    first = detection.Finding(journey, Alert.Reason.MISSED_CHECKINS, "The last check-in was missed")
    second = detection.Finding(journey, Alert.Reason.SIDE_EFFECT, "Reported in the check-in due Mon 2 Nov")
    snapshot = detection._Open(stale.pk, list(stale.reasons), stale.reached_at, stale.escalated)

    detection._carry_on(detection._Plan(journey, [first], open=stale), now=NOW)
    detection._carry_on(detection._Plan(journey, [second, first], open=snapshot), now=NOW)

    alert.refresh_from_db()
    assert [row["reason"] for row in alert.reasons] == ["low_adherence", "missed_checkins", "side_effect"]


# --- A hard week, told ----------------------------------------------------------------------------


def told(checkin, *, words="", barriers=()):
    CheckInAnswer.objects.filter(checkin=checkin).update(where_it_failed=words, barriers=list(barriers))


def a_hard_week(journey):
    """Four ordinary weeks (83%), then one at 17%: too little for the two-check-in rules at the defaults
    (the last two average 50%, 33 points below the weeks before)."""
    rules(low_margin_points=20, min_reports=6, missed_in_a_row=1, drop_points=35)
    for n in range(4):
        week(journey, MONDAY + timedelta(days=7 * n), ["done", "done", "partial"])
    return week(journey, MONDAY + timedelta(days=28), ["missed", "missed", "partial"])


@pytest.mark.parametrize(
    "said", [{"words": "A hard week with the kids."}, {"barriers": ["time"]}], ids=["words", "barrier"]
)
def test_a_hard_week_the_patient_told_us_about_is_noticed_the_day_it_is_told(led, said):
    journey, _ = led
    told(a_hard_week(journey), **said)

    [alert] = detection.detect_faltering(now=NOW)

    assert alert.reason == Alert.Reason.ADHERENCE_DROP
    assert alert.detail.startswith("A hard week: 16.7% in the check-in due")
    assert "down 66.6 points from their usual 83.3%" in alert.detail
    assert "kids" not in alert.detail  # the patient's words are shown to clinicians only, on the alert


def test_the_same_week_without_a_word_waits_for_the_next_check_in(led):
    journey, _ = led
    a_hard_week(journey)

    assert detection.detect_faltering(now=NOW) == []


def test_a_hard_week_can_be_switched_off(led):
    journey, _ = led
    told(a_hard_week(journey), words="A hard week with the kids.")
    rules(hard_week_points=0)

    assert detection.detect_faltering(now=NOW) == []
