"""checkin_answer_record: the one way a check-in answer is written, by link or by phone."""

import threading
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import AccessEvent
from compliance.models import CheckInAnswer, ClinicSettings, ComplianceLog
from compliance.services import PATIENT_LABEL, Refusal, checkin_answer_record
from journeys.models import Blueprint, BlueprintItem, CheckIn
from tests.compliance.conftest import MONDAY, week
from tests.conftest import require

pytestmark = pytest.mark.django_db

RATINGS = {"energy": 6, "sleep": 4, "mood": 7, "digestion": None}


def statuses(items, *rows):
    """``{item.pk: (status, reason)}``, one row per item in order; a bare status means no reason."""
    return {
        item.pk: row if isinstance(row, tuple) else (row, "") for item, row in zip(items, rows, strict=True)
    }


def record(checkin, items_status, **kwargs):
    arguments = {
        "where_it_failed": "Evenings were hard.",
        "barriers": ["time"],
        "ratings": RATINGS,
    }
    return checkin_answer_record(checkin=checkin, items_status=items_status, **{**arguments, **kwargs})


def counts():
    return CheckInAnswer.objects.count(), ComplianceLog.objects.count(), AccessEvent.objects.count()


@pytest.fixture
def checkin(plan):
    journey, _ = plan
    return week(journey, MONDAY)


def test_a_first_answer_writes_one_log_per_item_and_marks_the_checkin_answered(plan, checkin):
    journey, items = plan
    now = timezone.now()

    answer = record(
        checkin,
        statuses(items, "done", "partial", ("paused", " knee injury ")),
        barriers=["time", "time"],
        now=now,
    )

    checkin.refresh_from_db()
    assert checkin.status == CheckIn.Status.ANSWERED and checkin.answered_at == now
    assert answer.answered_at == now and answer.amended_at is None
    assert answer.patient == journey.patient and answer.via == "link" and answer.entered_by is None
    assert (answer.where_it_failed, answer.barriers) == ("Evenings were hard.", ["time"])
    assert (answer.energy, answer.sleep, answer.mood, answer.digestion) == (6, 4, 7, None)
    logs = {log.item_id: (log.status, log.paused_reason) for log in answer.logs.all()}
    assert logs == {
        items[0].pk: ("done", ""),
        items[1].pk: ("partial", ""),
        items[2].pk: ("paused", "knee injury"),
    }
    assert all(log.checkin_id == checkin.pk for log in answer.logs.all())
    event = AccessEvent.objects.get(object_id=str(answer.pk))
    assert (event.action, event.actor, event.actor_label) == ("create", None, PATIENT_LABEL)
    assert event.patient_id == journey.patient_id


def test_a_reason_given_for_an_item_that_is_not_paused_is_not_kept(plan, checkin):
    _, items = plan
    answer = record(checkin, statuses(items, ("done", "stray words"), "done", "done"))
    assert set(answer.logs.values_list("paused_reason", flat=True)) == {""}


def test_changing_within_the_window_replaces_the_logs_and_sets_amended_at(plan, checkin):
    _, items = plan
    first = timezone.now()
    answer = record(checkin, statuses(items, "missed", "missed", "missed"), now=first)
    later = first + timedelta(hours=23)

    changed = record(
        checkin,
        statuses(items, "done", "done", "partial"),
        where_it_failed="Actually better.",
        barriers=[],
        ratings={"energy": 9},
        now=later,
    )

    assert changed.pk == answer.pk
    changed.refresh_from_db()
    checkin.refresh_from_db()
    assert changed.answered_at == first and changed.amended_at == later
    assert checkin.answered_at == first
    assert (changed.where_it_failed, changed.barriers, changed.energy, changed.sleep) == (
        "Actually better.", [], 9, None,
    )  # fmt: skip
    assert sorted(changed.logs.values_list("status", flat=True)) == ["done", "done", "partial"]
    assert ComplianceLog.objects.filter(checkin=checkin).count() == 3
    assert AccessEvent.objects.filter(object_id=str(answer.pk), action="update").count() == 1


def test_changing_after_the_window_is_refused_and_nothing_changes(plan, checkin):
    _, items = plan
    first = timezone.now()
    answer = record(checkin, statuses(items, "missed", "missed", "missed"), now=first)
    before = counts()

    with pytest.raises(ValidationError) as refused:
        record(checkin, statuses(items, "done", "done", "done"), now=first + timedelta(hours=24))

    assert refused.value.code == Refusal.RECEIVED
    assert "time to change it is over" in refused.value.messages[0]
    assert counts() == before
    answer.refresh_from_db()
    assert answer.amended_at is None
    assert set(answer.logs.values_list("status", flat=True)) == {"missed"}


def test_the_window_is_the_clinics_amend_hours(plan, checkin):
    _, items = plan
    ClinicSettings.objects.update_or_create(pk=1, defaults={"amend_hours": 2})
    first = timezone.now()
    record(checkin, statuses(items, "done", "done", "done"), now=first)
    record(checkin, statuses(items, "done", "done", "missed"), now=first + timedelta(hours=1, minutes=59))
    with pytest.raises(ValidationError, match="the time to change it is over"):
        record(checkin, statuses(items, "done", "done", "done"), now=first + timedelta(hours=2))


def test_a_missed_checkin_is_refused_by_link_and_by_phone(plan, staff):
    journey, items = plan
    missed = week(journey, MONDAY, missed=True)
    before = counts()
    for via, entered_by in (("link", None), ("phone", staff)):
        with pytest.raises(ValidationError) as refused:
            record(missed, statuses(items, "done", "done", "done"), via=via, entered_by=entered_by)
        assert refused.value.code == Refusal.MISSED
    assert counts() == before
    missed.refresh_from_db()
    assert missed.status == CheckIn.Status.MISSED and missed.answered_at is None


def test_a_closed_checkin_without_an_answer_is_refused_by_link(plan, checkin):
    _, items = plan
    before = counts()
    with pytest.raises(ValidationError) as refused:
        record(checkin, statuses(items, "done", "done", "done"), now=checkin.closes_at)
    assert refused.value.code == Refusal.CLOSED
    assert counts() == before
    checkin.refresh_from_db()
    assert checkin.status == CheckIn.Status.SCHEDULED


def test_the_clinic_may_enter_a_late_answer_taken_by_phone(plan, checkin, staff):
    _, items = plan
    late = checkin.closes_at + timedelta(hours=5)

    answer = record(
        checkin, statuses(items, "done", "partial", "done"), via="phone", entered_by=staff, now=late
    )

    assert (answer.via, answer.entered_by) == ("phone", staff)
    checkin.refresh_from_db()
    assert checkin.status == CheckIn.Status.ANSWERED and checkin.answered_at == late
    event = AccessEvent.objects.get(object_id=str(answer.pk))
    assert (event.action, event.actor, event.actor_label) == ("create", staff, "")


def test_by_phone_the_clinic_cannot_change_an_answer_after_its_window(plan, checkin, staff):
    _, items = plan
    first = timezone.now()
    record(checkin, statuses(items, "done", "done", "done"), now=first)
    before = counts()
    with pytest.raises(ValidationError) as refused:
        record(
            checkin,
            statuses(items, "missed", "missed", "missed"),
            via="phone",
            entered_by=staff,
            now=first + timedelta(hours=25),
        )
    assert refused.value.code == Refusal.RECEIVED
    assert counts() == before


def test_an_answered_checkin_without_an_answer_row_is_final(plan, checkin):
    _, items = plan
    CheckIn.objects.filter(pk=checkin.pk).update(status=CheckIn.Status.ANSWERED, answered_at=timezone.now())
    with pytest.raises(ValidationError) as refused:
        record(checkin, statuses(items, "done", "done", "done"))
    assert refused.value.code == Refusal.RECEIVED


def test_the_items_are_the_active_and_paused_items_of_the_published_plan(plan, checkin, practitioner):
    journey, items = plan
    BlueprintItem.objects.filter(pk=items[1].pk).update(status=BlueprintItem.Status.PAUSED)
    BlueprintItem.objects.filter(pk=items[2].pk).update(status=BlueprintItem.Status.STOPPED)
    draft = Blueprint.objects.create(journey=journey, version=2, created_by=practitioner)
    BlueprintItem.objects.create(blueprint=draft, kind="diet", title="Not yet published")
    before = counts()

    for wrong in (
        statuses(items, "done", "done", "done"),  # the stopped item is not asked about
        statuses(items[:1], "done"),  # the paused one is
    ):
        with pytest.raises(ValidationError) as refused:
            record(checkin, wrong)
        assert refused.value.code == Refusal.ITEMS_CHANGED
    assert counts() == before

    answer = record(checkin, statuses(items[:2], "done", ("paused", "as agreed")))
    assert set(answer.logs.values_list("item_id", flat=True)) == {items[0].pk, items[1].pk}


@pytest.mark.parametrize(
    ("rows", "changes", "message"),
    [
        (("done", ("paused", "  "), "done"), {}, "why “No gluten” is paused"),
        (("done", "done", "sometimes"), {}, "Choose how “Walk” went"),
        (("done", ("paused", "x" * 256), "done"), {}, "at most 255 characters"),
        (("done", "done", "done"), {"barriers": ["time", "the weather"]}, "from the list"),
        (("done", "done", "done"), {"ratings": {"mood": 11}}, "mood from 0 to 10"),
        (("done", "done", "done"), {"ratings": {"sleep": -1}}, "sleep from 0 to 10"),
        (("done", "done", "done"), {"ratings": {"energy": "7"}}, "energy from 0 to 10"),
        (("done", "done", "done"), {"ratings": {"energy": True}}, "energy from 0 to 10"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message_and_writes_nothing(plan, checkin, rows, changes, message):
    _, items = plan
    before = counts()
    with pytest.raises(ValidationError) as refused:
        record(checkin, statuses(items, *rows), **changes)
    assert message in refused.value.messages[0]
    assert counts() == before
    checkin.refresh_from_db()
    assert checkin.status == CheckIn.Status.SCHEDULED


def test_an_answer_by_phone_must_name_who_entered_it(plan, checkin):
    _, items = plan
    with pytest.raises(ValueError, match="needs the user"):
        record(checkin, statuses(items, "done", "done", "done"), via="phone")


@pytest.mark.postgres
def test_an_answer_waits_for_the_checkin_row_so_two_at_once_make_one_answer(transactional_db, plan):
    require("PostgreSQL", connection.vendor == "postgresql", "set DATABASE_URL=postgres://…")
    journey, items = plan
    checkin = week(journey, MONDAY)
    outcome = {}

    def answer_from_another_browser():
        try:
            outcome["answer"] = record(checkin, statuses(items, "done", "done", "done"))
        finally:
            connection.close()

    with transaction.atomic():
        CheckIn.objects.select_for_update().get(pk=checkin.pk)  # someone else is answering right now
        other = threading.Thread(target=answer_from_another_browser)
        other.start()
        other.join(timeout=0.5)
        assert other.is_alive(), "the service wrote without waiting for the check-in's row"
        first = record(checkin, statuses(items, "missed", "missed", "missed"))
    other.join(timeout=10)

    assert outcome["answer"].pk == first.pk
    answer = CheckInAnswer.objects.get(checkin=checkin)
    assert answer.amended_at is not None
    assert set(answer.logs.values_list("status", flat=True)) == {"done"}


def request_for(checkin, *, status="pending"):
    from journeys.services.checkins import request_key
    from nudges.models import Nudge
    from nudges.services import nudge_schedule

    nudge = nudge_schedule(
        patient=checkin.journey.patient,
        kind="checkin_request",
        channel="email",
        send_at=timezone.now() + timedelta(days=1),
        dedupe_key=request_key(checkin.pk),
        context={"checkin_url": "https://crm.example/c/t/"},
    )
    if status != "pending":
        Nudge.objects.filter(pk=nudge.pk).update(status=status, sent_at=timezone.now())
    return nudge


def test_answering_a_checkin_early_withdraws_its_request_that_has_not_gone_out(plan, checkin):
    _, items = plan
    request = request_for(checkin)
    record(checkin, statuses(items, "done", "done", "done"))
    request.refresh_from_db()
    assert (request.status, request.status_reason) == (
        "cancelled",
        "the check-in was answered before it was asked",
    )


def test_answering_a_checkin_leaves_a_request_that_went_out_as_it_was(plan, checkin):
    _, items = plan
    request = request_for(checkin, status="sent")
    record(checkin, statuses(items, "done", "done", "done"))
    request.refresh_from_db()
    assert request.status == "sent"


def test_a_refused_answer_withdraws_nothing(plan, checkin):
    _, items = plan
    request = request_for(checkin)
    CheckIn.objects.filter(pk=checkin.pk).update(status=CheckIn.Status.MISSED)
    with pytest.raises(ValidationError):
        record(checkin, statuses(items, "done", "done", "done"))
    request.refresh_from_db()
    assert request.status == "pending"
