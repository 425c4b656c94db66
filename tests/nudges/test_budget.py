"""The weekly message budget: at most three automated messages per patient in any rolling seven days."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from nudges import services
from nudges.budget import PRIORITY, WEEKLY_LIMIT
from nudges.models import Kind, Nudge

pytestmark = pytest.mark.django_db

NOON_NY = datetime(2027, 6, 10, 16, 0, tzinfo=UTC)  # 12:00 in New York, outside quiet hours


def schedule(patient, key, kind=Kind.CHECKIN_REQUEST, send_at=None, **context):
    return services.nudge_schedule(
        patient=patient,
        kind=kind,
        channel="email",
        send_at=send_at or timezone.now(),
        dedupe_key=key,
        context=context or {"checkin_url": "https://crm.example/c/t/"},
    )


def sent_before(patient, days_ago: list[float], kind=Kind.CHECKIN_MISSED):
    """Automated messages that went out ``days_ago`` before now."""
    now = timezone.now()
    for n, ago in enumerate(days_ago):
        Nudge.objects.create(
            patient=patient,
            kind=kind,
            channel="email",
            send_at=now - timedelta(days=ago),
            sent_at=now - timedelta(days=ago),
            status=Nudge.Status.SENT,
            dedupe_key=f"history:{n}:{ago}",
        )


@time_machine.travel(NOON_NY, tick=False)
def test_the_fourth_automated_message_in_seven_days_is_held_back_with_weekly_limit(
    consenting_patient, outbox
):
    sent_before(consenting_patient, [1, 3, 6.9])
    fourth = schedule(consenting_patient, "fourth")

    assert services.nudge_deliver(nudge_id=fourth.pk) is False

    fourth.refresh_from_db()
    assert fourth.status == Nudge.Status.SUPPRESSED
    assert fourth.status_reason.startswith("weekly limit")
    assert outbox == []


@time_machine.travel(NOON_NY, tick=False)
def test_a_visit_reminder_and_a_one_off_still_go_over_the_budget(consenting_patient, outbox, staff):
    sent_before(consenting_patient, [1, 2, 3])
    reminder = schedule(
        consenting_patient,
        "visit:1",
        kind=Kind.VISIT_REMINDER,
        visit_kind="follow-up visit",
        visit_when="Friday 11 June at 10:00",
    )
    one_off = services.nudge_send_one_off(
        patient=consenting_patient, actor=staff, channel="email", message="See you Friday!"
    )

    assert services.nudge_deliver(nudge_id=reminder.pk) is True
    assert services.nudge_deliver(nudge_id=one_off.pk) is True
    assert len(outbox) == 2


@time_machine.travel(NOON_NY, tick=False)
def test_exempt_messages_do_not_use_up_the_budget(consenting_patient, outbox):
    sent_before(consenting_patient, [1, 2, 3, 4], kind=Kind.VISIT_REMINDER)
    sent_before(consenting_patient, [5, 6], kind=Kind.ONE_OFF)
    request = schedule(consenting_patient, "request")

    assert services.nudge_deliver(nudge_id=request.pk) is True


@time_machine.travel(NOON_NY, tick=False)
def test_the_window_rolls_a_message_eight_days_ago_no_longer_counts(consenting_patient, outbox):
    sent_before(consenting_patient, [1, 2, 8])
    request = schedule(consenting_patient, "request")

    assert services.nudge_deliver(nudge_id=request.pk) is True


@time_machine.travel(NOON_NY, tick=False)
def test_an_unknown_message_counts_as_one_that_went_out(consenting_patient, outbox):
    sent_before(consenting_patient, [1, 2])
    Nudge.objects.create(
        patient=consenting_patient,
        kind=Kind.CHECKIN_REQUEST,
        channel="email",
        send_at=timezone.now() - timedelta(days=1),
        claimed_at=timezone.now() - timedelta(days=1),
        status=Nudge.Status.UNKNOWN,
        dedupe_key="maybe-sent",
    )
    request = schedule(consenting_patient, "request")

    assert services.nudge_deliver(nudge_id=request.pk) is False
    assert Nudge.objects.get(pk=request.pk).status == Nudge.Status.SUPPRESSED


@time_machine.travel(NOON_NY, tick=False)
def test_in_one_dispatch_pass_the_last_slot_goes_to_the_higher_priority_message(consenting_patient, outbox):
    assert PRIORITY[Kind.ADHERENCE_OUTREACH] > PRIORITY[Kind.CHECKIN_MISSED] > PRIORITY[Kind.GRADUATION]
    sent_before(consenting_patient, [1, 2])
    # The lower-priority ones are due first, so the batch reaches them first.
    graduation = schedule(
        consenting_patient, "graduation", kind=Kind.GRADUATION, send_at=NOON_NY - timedelta(hours=2)
    )
    missed = schedule(
        consenting_patient, "missed", kind=Kind.CHECKIN_MISSED, send_at=NOON_NY - timedelta(hours=1)
    )
    outreach = schedule(consenting_patient, "outreach", kind=Kind.ADHERENCE_OUTREACH)

    report = services.nudge_dispatch_due()

    assert report.sent == 1 and report.suppressed == 2
    assert Nudge.objects.get(pk=outreach.pk).status == Nudge.Status.SENT
    for held in (graduation, missed):
        held.refresh_from_db()
        assert held.status == Nudge.Status.SUPPRESSED and held.status_reason == WEEKLY_LIMIT


def test_over_simulated_weeks_no_patient_gets_more_than_three_automated_messages_in_any_seven_days(
    consenting_patient, outbox
):
    """A check-in request every day for four weeks, dispatched hourly: any 7-day window holds at most 3."""
    start = datetime(2027, 3, 1, 15, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False) as clock:
        for day in range(28):
            schedule(consenting_patient, f"daily:{day}", send_at=start + timedelta(days=day))
        for _hour in range(28 * 24):
            services.nudge_dispatch_due()
            clock.shift(timedelta(hours=1))
    sent = sorted(Nudge.objects.filter(status=Nudge.Status.SENT).values_list("sent_at", flat=True))
    assert len(sent) == 12  # three a week, four weeks
    for i, moment in enumerate(sent):
        assert sum(moment - timedelta(days=7) < other <= moment for other in sent[: i + 1]) <= 3


@time_machine.travel(NOON_NY, tick=False)
def test_the_outbox_and_the_messages_panel_show_the_weekly_limit_reason(consenting_patient, client, staff):
    sent_before(consenting_patient, [1, 2, 3])
    held = schedule(consenting_patient, "held")
    services.nudge_deliver(nudge_id=held.pk)
    client.force_login(staff)

    assert "weekly limit" in client.get(consenting_patient.section_url("messages")).content.decode()
    assert "weekly limit" in client.get(reverse("nudges:outbox") + "?view=history").content.decode()


@time_machine.travel(NOON_NY, tick=False)
def test_the_compiled_count_reads_what_the_orm_reads_for_every_rank_and_moment(consenting_patient, settings):
    """The budget's query is compiled once per thread for each rank of kind (``nudges.budget._counted``): for
    nudges of every kind, at several moments, with and without messages still riding on the batch, it finds
    the ORM's rows by the ORM's SQL."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from accounts.queries import AnyOf
    from nudges.budget import EXEMPT, _counted, _used
    from tests.factories import PatientFactory

    settings.NUDGE_WEEKLY_BUDGET = 50  # every row that counts, not only the first three
    other = PatientFactory()
    now = timezone.now()
    made = []
    for n, kind in enumerate(list(PRIORITY) + sorted(EXEMPT)):
        for patient in (consenting_patient, other):
            for status, ago in (("sent", 2), ("sent", 9), ("unknown", 1), ("sending", 0), ("pending", 0)):
                made.append(
                    Nudge.objects.create(
                        patient=patient, kind=kind, channel="email", status=status,
                        send_at=now - timedelta(days=ago, minutes=n % 3), claimed_at=now - timedelta(days=ago),
                        sent_at=now - timedelta(days=ago) if status == "sent" else None,
                        dedupe_key=f"compiled:{patient.pk}:{kind}:{status}:{ago}",
                    )
                )  # fmt: skip
    for nudge in made:
        for moment in (now, now - timedelta(days=3), now + timedelta(days=5)):
            for also in ([], [made[0].pk, made[7].pk], [nudge.pk]):
                orm = _used(nudge, moment - timedelta(days=7), AnyOf("pk", also) if also else None)
                expected = sorted(orm.values_list("pk", flat=True)[:50])
                with CaptureQueriesContext(connection) as ran:
                    assert sorted(_counted(nudge, moment - timedelta(days=7), also, 50)) == expected
                sql = str(orm.values_list("pk", flat=True)[:50].query)
                assert len(ran.captured_queries) == 1
                assert ran.captured_queries[0]["sql"].split(" WHERE ")[0] == sql.split(" WHERE ")[0]
