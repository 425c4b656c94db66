"""The outbox's promises, against the real database: once per key, once per nudge, checked at send time."""

import json
from datetime import UTC, datetime, time, timedelta

import pytest
import time_machine
from django.utils import timezone

from nudges import services
from nudges.models import Kind, Nudge
from patients import services as patient_services

pytestmark = pytest.mark.django_db

# 12:00 in New York, outside quiet hours; after the fixtures' real "now", so consent rows order as in life.
NOON_NY = datetime(2027, 6, 10, 16, 0, tzinfo=UTC)


def schedule(patient, key="k1", kind="checkin_request", send_at=None, **kwargs):
    return services.nudge_schedule(
        patient=patient, kind=kind, send_at=send_at or timezone.now(), dedupe_key=key, **kwargs
    )


@time_machine.travel(NOON_NY, tick=False)
def test_scheduling_twice_with_one_key_makes_one_nudge(consenting_patient):
    first = schedule(consenting_patient, context={"checkin_url": "https://x/c/1/"})
    second = schedule(consenting_patient, context={"checkin_url": "https://x/c/2/"})
    assert first.pk == second.pk
    assert Nudge.objects.count() == 1
    assert Nudge.objects.get().context == {"checkin_url": "https://x/c/1/"}


@time_machine.travel(NOON_NY, tick=False)
def test_delivering_one_nudge_twice_sends_it_once(consenting_patient, outbox):
    nudge = schedule(consenting_patient, channel="email")
    assert services.nudge_deliver(nudge_id=nudge.pk) is True
    assert services.nudge_deliver(nudge_id=nudge.pk) is False
    assert len(outbox) == 1
    nudge.refresh_from_db()
    assert nudge.status == "sent" and nudge.attempts == 1 and nudge.sent_at == NOON_NY


@time_machine.travel(NOON_NY, tick=False)
def test_dispatching_twice_sends_each_due_nudge_once(consenting_patient, outbox, sms_outbox, settings):
    settings.NUDGE_WEEKLY_BUDGET = (
        0  # ten check-in requests to one patient: the weekly budget is not the point
    )
    for i in range(5):
        schedule(consenting_patient, key=f"e{i}", channel="email")
        schedule(consenting_patient, key=f"s{i}", channel="sms")
    schedule(consenting_patient, key="later", send_at=NOON_NY + timedelta(hours=1))

    report = services.nudge_dispatch_due()
    again = services.nudge_dispatch_due()

    assert report.sent == 10 and again.sent == 0
    assert len(outbox) == 5
    assert len(sms_outbox.read_text().splitlines()) == 5
    assert Nudge.objects.get(dedupe_key="later").status == "pending"


@time_machine.travel(NOON_NY, tick=False)
def test_an_email_has_text_html_unsubscribe_headers_and_a_stable_message_id(consenting_patient, outbox):
    nudge = schedule(consenting_patient, channel="email", context={"checkin_url": "https://crm.example/c/t/"})
    services.nudge_deliver(nudge_id=nudge.pk)
    email = outbox[0]
    assert email.to == ["renee@example.com"]
    assert email.subject == "Your weekly check-in, Renée"
    assert "Where did my plan fail you this week?" in email.body
    html, mimetype = email.alternatives[0]
    assert mimetype == "text/html" and "https://crm.example/c/t/" in html
    assert email.extra_headers["List-Unsubscribe"].startswith("<http://127.0.0.1:8000/u/")
    assert email.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert email.extra_headers["Message-ID"].startswith(f"<nudge-{nudge.pk}-")
    nudge.refresh_from_db()
    assert nudge.provider_id == email.extra_headers["Message-ID"]
    assert nudge.body_text == email.body and nudge.subject == email.subject


@time_machine.travel(NOON_NY, tick=False)
def test_an_sms_carries_the_opt_out_line(consenting_patient, sms_outbox):
    nudge = schedule(consenting_patient, channel="sms", context={"checkin_url": "https://crm.example/c/t/"})
    services.nudge_deliver(nudge_id=nudge.pk)
    sent = json.loads(sms_outbox.read_text())
    assert sent["to"] == "+13125550147"
    assert sent["body"].endswith("Reply STOP to opt out.")
    assert sent["reference"] == f"nudge-{nudge.pk}"


@time_machine.travel(NOON_NY, tick=False)
def test_a_patients_own_text_is_escaped_in_the_html_part(consenting_patient, outbox, staff):
    consenting_patient.preferred_name = "<b>Bold</b> & <script>x()</script>"
    consenting_patient.save()
    services.nudge_send_one_off(
        patient=consenting_patient, actor=staff, channel="email", message="See <a href='http://evil'>this</a>"
    )
    services.nudge_dispatch_due()
    html = outbox[0].alternatives[0][0]
    assert "<script>" not in html and "<b>Bold</b>" not in html and "<a href='http://evil'>" not in html
    assert "&lt;script&gt;" in html and "&lt;b&gt;Bold&lt;/b&gt;" in html
    assert "<b>Bold</b> & <script>x()</script>" in outbox[0].body  # the text part is plain text


@time_machine.travel(NOON_NY, tick=False)
def test_consent_withdrawn_between_scheduling_and_sending_holds_the_nudge_back(
    consenting_patient, sms_outbox
):
    nudge = schedule(consenting_patient, channel="sms")
    patient_services.consent_record(patient=consenting_patient, channel="sms", granted=False, via="SMS STOP")
    services.nudge_dispatch_due()
    nudge.refresh_from_db()
    assert nudge.status == "suppressed" and nudge.status_reason == "no SMS consent"
    assert not sms_outbox.exists()


@time_machine.travel(NOON_NY, tick=False)
@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda p: patient_services.patient_unsubscribe(patient=p, via="link"), "patient unsubscribed"),
        (
            lambda p: patient_services.patient_set_archived(actor=None, patient=p, archived=True),
            "patient is archived",
        ),
    ],
)
def test_unsubscribed_or_archived_patients_are_held_back(consenting_patient, outbox, change, reason):
    nudge = schedule(consenting_patient, channel="email")
    change(consenting_patient)
    services.nudge_dispatch_due()
    nudge.refresh_from_db()
    assert (nudge.status, nudge.status_reason) == ("suppressed", reason)
    assert outbox == []


def test_quiet_hours_defer_to_the_next_allowed_minute(consenting_patient, outbox):
    # 23:30 in New York on 10 June: quiet until 08:00 local = 12:00 UTC on 11 June.
    with time_machine.travel(datetime(2026, 6, 11, 3, 30, tzinfo=UTC), tick=False):
        nudge = schedule(consenting_patient, channel="email")
        services.nudge_dispatch_due()
    nudge.refresh_from_db()
    assert nudge.status == "pending" and nudge.attempts == 0
    assert nudge.send_at == datetime(2026, 6, 11, 12, 0, tzinfo=UTC)
    assert "quiet hours" in nudge.status_reason
    assert outbox == []
    with time_machine.travel(datetime(2026, 6, 11, 12, 0, tzinfo=UTC), tick=False):
        services.nudge_dispatch_due()
    nudge.refresh_from_db()
    assert nudge.status == "sent" and len(outbox) == 1


@pytest.mark.parametrize(
    ("zone", "now_utc", "expected_utc"),
    [
        # New York springs forward on 8 March 2026: 08:00 EDT is 12:00 UTC (it was 13:00 UTC the day before).
        ("America/New_York", datetime(2026, 3, 8, 5, 0, tzinfo=UTC), datetime(2026, 3, 8, 12, 0, tzinfo=UTC)),
        ("America/New_York", datetime(2026, 3, 7, 5, 0, tzinfo=UTC), datetime(2026, 3, 7, 13, 0, tzinfo=UTC)),
        # London springs forward on 29 March 2026: 08:00 BST is 07:00 UTC.
        ("Europe/London", datetime(2026, 3, 28, 23, 30, tzinfo=UTC), datetime(2026, 3, 29, 7, 0, tzinfo=UTC)),
        # New York falls back on 1 November 2026: 08:00 EST is 13:00 UTC.
        (
            "America/New_York",
            datetime(2026, 11, 1, 5, 30, tzinfo=UTC),
            datetime(2026, 11, 1, 13, 0, tzinfo=UTC),
        ),
        # London falls back on 25 October 2026: 08:00 GMT is 08:00 UTC.
        (
            "Europe/London",
            datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
            datetime(2026, 10, 25, 8, 0, tzinfo=UTC),
        ),
    ],
)
def test_quiet_hours_are_kept_across_daylight_saving_changes(
    consenting_patient, outbox, zone, now_utc, expected_utc
):
    consenting_patient.time_zone = zone
    consenting_patient.save()
    with time_machine.travel(now_utc, tick=False):
        nudge = schedule(consenting_patient, channel="email")
        services.nudge_dispatch_due()
    nudge.refresh_from_db()
    assert nudge.send_at == expected_utc
    local = nudge.send_at.astimezone(consenting_patient.tz)
    assert local.time() == time(8, 0)


def test_quiet_hours_ending_inside_a_spring_forward_gap(consenting_patient):
    # Quiet 22:00–02:30: on 8 March 2026 New York has no 02:30. The nudge waits for the instant 02:30 EST
    # names, 03:30 EDT: out of quiet hours, half an hour after the clocks' jump to 03:00.
    consenting_patient.quiet_hours_start, consenting_patient.quiet_hours_end = time(22, 0), time(2, 30)
    consenting_patient.save()
    with time_machine.travel(datetime(2026, 3, 8, 4, 0, tzinfo=UTC), tick=False):  # 23:00 EST on 7 March
        nudge = schedule(consenting_patient, channel="email")
        services.nudge_dispatch_due()
    nudge.refresh_from_db()
    local = nudge.send_at.astimezone(consenting_patient.tz)
    assert not consenting_patient.in_quiet_hours(local.time())
    assert nudge.send_at == datetime(2026, 3, 8, 7, 0, tzinfo=UTC)  # 03:00 EDT, the instant the clocks jump


@time_machine.travel(NOON_NY, tick=False)
def test_a_transient_failure_retries_with_backoff_then_gives_up(consenting_patient, settings, tmp_path):
    settings.SMS_BACKEND = "tests.nudges.flaky.AlwaysDownSmsBackend"
    settings.NUDGE_MAX_ATTEMPTS = 2
    nudge = schedule(consenting_patient, channel="sms")
    services.nudge_dispatch_due()
    nudge.refresh_from_db()
    assert nudge.status == "pending" and nudge.attempts == 1
    assert nudge.send_at == NOON_NY + timedelta(minutes=1)
    assert "provider unavailable" in nudge.last_error
    with time_machine.travel(NOON_NY + timedelta(minutes=1), tick=False):
        services.nudge_dispatch_due()
    nudge.refresh_from_db()
    assert nudge.status == "failed" and nudge.attempts == 2


@time_machine.travel(NOON_NY, tick=False)
def test_a_timeout_mid_send_becomes_unknown_and_is_not_retried(consenting_patient, settings):
    settings.SMS_BACKEND = "tests.nudges.flaky.TimesOutSmsBackend"
    nudge = schedule(consenting_patient, channel="sms")
    services.nudge_dispatch_due()
    nudge.refresh_from_db()
    assert nudge.status == "unknown"
    assert services.nudge_dispatch_due().sent == 0


def test_past_the_lease_a_claimed_nudge_goes_back_to_pending_and_a_taken_one_becomes_unknown(
    consenting_patient, settings
):
    settings.NUDGE_SENDING_LEASE_SECONDS = 60
    with time_machine.travel(NOON_NY, tick=False):
        claimed = schedule(consenting_patient, key="claimed")
        taken = schedule(consenting_patient, key="taken")
        fresh = schedule(consenting_patient, key="fresh")
        services.nudge_claim_due()
    # "taken" went to its transport 61 s ago and its worker died; "fresh" was taken 30 s ago and is still going.
    Nudge.objects.filter(pk=taken.pk).update(taken_at=NOON_NY, attempts=1)
    Nudge.objects.filter(pk=fresh.pk).update(taken_at=NOON_NY + timedelta(seconds=31), attempts=1)

    report = services.nudge_reconcile_stuck(now=NOON_NY + timedelta(seconds=61))

    assert (report.released, report.unknown) == (1, 1)
    claimed.refresh_from_db()
    taken.refresh_from_db()
    fresh.refresh_from_db()
    assert (claimed.status, claimed.claimed_at, claimed.attempts) == ("pending", None, 0)
    assert taken.status == "unknown" and "may or may not have reached" in taken.last_error
    assert fresh.status == "sending"
    assert {n.pk for n in Nudge.objects.needs_review()} == {taken.pk}


def test_a_nudge_that_was_claimed_and_released_is_sent_once_by_the_next_dispatch(
    consenting_patient, settings, outbox
):
    settings.NUDGE_SENDING_LEASE_SECONDS = 60
    with time_machine.travel(NOON_NY, tick=False):
        nudge = schedule(consenting_patient, channel="email")
        services.nudge_claim_due()  # a batch claimed it and died before its turn
    with time_machine.travel(NOON_NY + timedelta(seconds=61), tick=False):
        services.nudge_reconcile_stuck()
        assert services.nudge_dispatch_due().sent == 1
    nudge.refresh_from_db()
    assert (nudge.status, nudge.attempts) == ("sent", 1) and len(outbox) == 1


def test_a_batch_stops_taking_nudges_well_before_the_soft_time_limit_and_puts_the_rest_back(
    consenting_patient, settings, tmp_path
):
    settings.NUDGE_WEEKLY_BUDGET = 0  # ten messages to one patient: the weekly budget is not what is tested
    record = tmp_path / "sent.log"
    settings.MAILERS = {
        "default": {
            "BACKEND": "tests.support.recording_backend.RecordingEmailBackend",
            "OPTIONS": {"path": str(record), "delay": 0.3},
        }
    }
    settings.CELERY_TASK_SOFT_TIME_LIMIT = (
        2  # the deadline: half of it, when the transport's timeout is longer
    )
    settings.NUDGE_TRANSPORT_TIMEOUT_SECONDS = 20
    with time_machine.travel(NOON_NY, tick=True):
        for i in range(10):
            schedule(consenting_patient, key=f"k{i}", channel="email")
        report = services.nudge_dispatch_due()
    lines = record.read_text().splitlines()
    assert 1 <= report.sent == len(lines) <= 5, report
    assert report.released == 10 - report.sent
    left = Nudge.objects.exclude(status="sent")
    assert {(n.status, n.attempts, n.claimed_at) for n in left} == {("pending", 0, None)}


@time_machine.travel(NOON_NY, tick=False)
def test_cancel_withdraws_only_pending_nudges(consenting_patient, outbox):
    sent = schedule(consenting_patient, key="visit:7:24h", channel="email")
    services.nudge_deliver(nudge_id=sent.pk)
    later = schedule(consenting_patient, key="visit:7:2h", send_at=NOON_NY + timedelta(hours=5))
    assert services.nudge_cancel(key_prefix="visit:7:", reason="visit cancelled") == 1
    later.refresh_from_db()
    sent.refresh_from_db()
    assert (later.status, later.status_reason) == ("cancelled", "visit cancelled")
    assert sent.status == "sent"


def test_the_channel_falls_back_to_the_one_with_consent(consenting_patient):
    patient_services.consent_record(patient=consenting_patient, channel="email", granted=False, via="test")
    nudge = schedule(consenting_patient)
    assert consenting_patient.preferred_channel == "email" and nudge.channel == "sms"


def test_a_context_with_objects_is_refused(consenting_patient):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="plain text"):
        schedule(consenting_patient, context={"patient": consenting_patient})


@time_machine.travel(NOON_NY, tick=False)
def test_scheduling_a_due_nudge_queues_its_delivery_after_commit(
    consenting_patient, django_capture_on_commit_callbacks, monkeypatch
):
    queued = []
    monkeypatch.setattr(
        "nudges.tasks.deliver.apply_async", lambda args, **options: queued.append((args[0], options))
    )
    with django_capture_on_commit_callbacks(execute=True):
        nudge = schedule(consenting_patient)
        assert queued == []
    assert queued == [(nudge.pk, {"retry": True, "retry_policy": {"max_retries": 0}})]


@time_machine.travel(NOON_NY, tick=False)
def test_review_send_again_and_mark_reviewed(consenting_patient, staff, settings, outbox):
    settings.SMS_BACKEND = "tests.nudges.flaky.TimesOutSmsBackend"
    nudge = schedule(consenting_patient, channel="sms")
    services.nudge_dispatch_due()
    nudge.refresh_from_db()
    services.nudge_mark_reviewed(nudge=nudge, actor=staff)
    assert not Nudge.objects.needs_review().exists()
    settings.SMS_BACKEND = "nudges.channels.ConsoleSmsBackend"
    services.nudge_retry(nudge=nudge, actor=staff)
    services.nudge_dispatch_due()
    nudge.refresh_from_db()
    assert nudge.status == "sent"


@time_machine.travel(NOON_NY, tick=False)
@pytest.mark.parametrize(
    "wording", ['{% include "base.html" %}', '{% url "missing" %}', "{% debug %}", "{% load static %}"]
)
def test_wording_that_reaches_outside_the_message_fails_that_nudge_only(consenting_patient, outbox, wording):
    from nudges.models import MessageTemplate

    MessageTemplate.objects.filter(kind="checkin_request", channel="email").update(body=wording)
    bad = schedule(consenting_patient, key="bad", channel="email")
    good = schedule(consenting_patient, key="good", kind="graduation", channel="email")
    report = services.nudge_dispatch_due()
    bad.refresh_from_db()
    good.refresh_from_db()
    assert bad.status == "failed" and "cannot be used in a message" in bad.last_error
    assert good.status == "sent" and report.sent == 1


def test_a_nudge_that_quiet_hours_would_push_past_its_expiry_is_held_back(consenting_patient, outbox):
    # 06:00 in New York: a reminder for a 08:00 visit would wait for quiet hours to end at 08:00.
    six_am = datetime(2027, 6, 10, 10, 0, tzinfo=UTC)
    with time_machine.travel(six_am, tick=False):
        nudge = schedule(
            consenting_patient, kind="visit_reminder", channel="email", expires_at=six_am + timedelta(hours=2)
        )
        services.nudge_dispatch_due()
    nudge.refresh_from_db()
    assert nudge.status == "suppressed"
    assert nudge.status_reason == "quiet hours last until after it stops mattering"
    assert outbox == []


def test_a_nudge_due_after_its_expiry_is_held_back(consenting_patient, outbox):
    with time_machine.travel(NOON_NY, tick=False):
        nudge = schedule(consenting_patient, channel="email", expires_at=NOON_NY - timedelta(minutes=1))
        services.nudge_dispatch_due()
    nudge.refresh_from_db()
    assert (nudge.status, nudge.status_reason) == ("suppressed", "too late to be useful")


@time_machine.travel(NOON_NY, tick=False)
def test_a_kind_switched_off_by_its_rule_is_held_back_but_one_off_messages_still_go(
    consenting_patient, outbox, staff
):
    from nudges.models import NudgeRule

    NudgeRule.objects.filter(kind__in=["checkin_request", "one_off"]).update(enabled=False)
    nudge = schedule(consenting_patient, channel="email")
    services.nudge_send_one_off(
        patient=consenting_patient, actor=staff, channel="email", message="See you soon"
    )
    report = services.nudge_dispatch_due()
    nudge.refresh_from_db()
    assert nudge.status == "suppressed" and "switched off" in nudge.status_reason
    assert report.sent == 1 and len(outbox) == 1


@time_machine.travel(NOON_NY, tick=False)
def test_the_plain_text_part_carries_the_unsubscribe_link_too(consenting_patient, outbox):
    nudge = schedule(consenting_patient, channel="email")
    services.nudge_deliver(nudge_id=nudge.pk)
    link = outbox[0].extra_headers["List-Unsubscribe"].strip("<>")
    assert outbox[0].body.endswith(f"To stop these messages: {link}")


@pytest.mark.django_db(transaction=True)
def test_the_shipped_wording_and_rules_come_back_after_a_flush():
    from django.core.management import call_command

    from nudges.models import MessageTemplate, NudgeRule

    MessageTemplate.objects.filter(kind="graduation", channel="sms").update(body="Our own words")
    call_command("flush", "--noinput", verbosity=0)
    assert MessageTemplate.objects.count() == 2 * len(Kind.values) and NudgeRule.objects.count() == len(
        Kind.values
    )
    MessageTemplate.objects.filter(kind="graduation", channel="sms").update(body="Our own words")
    call_command("migrate", verbosity=0)
    assert MessageTemplate.objects.get(kind="graduation", channel="sms").body == "Our own words"


def _withdraw(p):
    patient_services.consent_record(patient=p, channel="email", granted=False, via="test")


def _regrant(p):
    _withdraw(p)
    patient_services.consent_record(patient=p, channel="email", granted=True, via="test")


def _new_address(p):
    type(p).objects.filter(pk=p.pk).update(email="new@example.com")


@time_machine.travel(NOON_NY, tick=True)
@pytest.mark.parametrize(
    ("change", "status", "reason"),
    [
        (lambda p: None, "sent", ""),
        (_withdraw, "suppressed", "no Email consent"),
        (_regrant, "sent", ""),  # the latest consent row wins
        (
            lambda p: patient_services.patient_unsubscribe(patient=p, via="link"),
            "suppressed",
            "patient unsubscribed",
        ),
        (
            lambda p: patient_services.patient_set_archived(actor=None, patient=p, archived=True),
            "suppressed",
            "patient is archived",
        ),
        (_new_address, "suppressed", "Email consent was given for another address"),
    ],
)
def test_consent_changed_after_the_batch_read_the_patient_is_read_again_as_the_nudge_is_taken(
    consenting_patient, outbox, monkeypatch, change, status, reason
):
    nudge = schedule(consenting_patient, channel="email")
    render = services.rendering.render_message

    def render_then_change(**kwargs):  # between the batch's read of the patient and the take
        message = render(**kwargs)
        change(consenting_patient)
        return message

    monkeypatch.setattr(services.rendering, "render_message", render_then_change)
    services.nudge_dispatch_due()
    nudge.refresh_from_db()
    assert (nudge.status, nudge.status_reason) == (status, reason)
    assert len(outbox) == (1 if status == "sent" else 0)
    assert nudge.taken_at is None or status == "sent"


# In autocommit, as a worker runs: inside a test's atomic block the outbox would not retry.
@pytest.mark.django_db(transaction=True)
@time_machine.travel(NOON_NY, tick=False)
def test_a_sent_nudge_is_recorded_as_sent_even_when_the_database_blinks_right_after_its_transport(
    consenting_patient, outbox, monkeypatch
):
    from django.db import OperationalError
    from django.db.backends.utils import CursorWrapper

    monkeypatch.setattr(services, "SETTLE_RETRY_DELAYS", (0, 0, 0))
    monkeypatch.setattr(services, "sleep", lambda seconds: None)
    execute, failures = CursorWrapper.execute, []

    def execute_while_the_database_restarts(self, sql, params=None):
        # The statement recording 'sent' (raw, or the ORM's inside a caller's transaction).
        recording_sent = "UPDATE" in sql and "sent_at" in sql.split("WHERE")[0] and "sent" in (params or ())
        if recording_sent and len(failures) < 2:
            failures.append(sql)
            raise OperationalError("the database system is starting up")
        return execute(self, sql, params)

    monkeypatch.setattr(CursorWrapper, "execute", execute_while_the_database_restarts)
    nudge = schedule(consenting_patient, channel="email")
    assert services.nudge_dispatch_due().sent == 1
    nudge.refresh_from_db()
    assert (nudge.status, len(failures), len(outbox)) == ("sent", 2, 1)


def test_a_batch_slower_than_the_lease_keeps_its_claims_so_nothing_is_put_back_under_it(
    consenting_patient, settings, tmp_path
):
    settings.NUDGE_WEEKLY_BUDGET = 0  # many messages to one patient: the weekly budget is not what is tested
    settings.NUDGE_SENDING_LEASE_SECONDS = 2  # renewed every 2/3 s; each send takes 1 s
    seen = []

    def reconcile_on_the_third_send(nudge_id):  # the beat's reconcile, 3 s after the batch claimed all four
        if len(seen) == 2:
            seen.append(services.nudge_reconcile_stuck())
        else:
            seen.append(nudge_id)

    settings.MAILERS = {
        "default": {
            "BACKEND": "tests.support.recording_backend.RecordingEmailBackend",
            "OPTIONS": {
                "path": str(tmp_path / "sent.log"),
                "delay": 1.0,
                "on_send": reconcile_on_the_third_send,
            },
        }
    }
    with time_machine.travel(NOON_NY, tick=True):
        for i in range(4):
            schedule(consenting_patient, key=f"k{i}", channel="email")
        report = services.nudge_dispatch_due()
    assert (seen[2].released, seen[2].unknown) == (0, 0)
    assert report.sent == 4 and report.skipped == report.released == 0
