"""``manage.py dispatch_nudges``: one pass of the dispatcher without Celery, or a dry run."""

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command

from nudges import services
from nudges.models import Nudge
from patients import services as patient_services
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db

NOON_NY = datetime(2027, 6, 10, 16, 0, tzinfo=UTC)  # 01:00 the next day in Tokyo: quiet hours there


@pytest.fixture
def due(consenting_patient, staff):
    """Four due nudges: one that can go, one without consent, one in quiet hours, one archived; one later."""
    sleeper = PatientFactory(first_name="Yuki", time_zone="Asia/Tokyo")
    patient_services.consent_record(patient=sleeper, channel="email", granted=True, actor=staff, via="test")
    archived = PatientFactory(first_name="Ana")
    patient_services.consent_record(patient=archived, channel="email", granted=True, actor=staff, via="test")
    patient_services.patient_set_archived(actor=staff, patient=archived, archived=True)
    patient_services.consent_record(
        patient=consenting_patient, channel="sms", granted=False, actor=staff, via="test"
    )
    with time_machine.travel(NOON_NY - timedelta(minutes=5), tick=False):
        made = {
            "ok": services.nudge_schedule(
                patient=consenting_patient,
                kind="checkin_request",
                channel="email",
                send_at=NOON_NY,
                dedupe_key="ok",
            ),
            "no_sms": services.nudge_schedule(
                patient=consenting_patient,
                kind="visit_reminder",
                channel="sms",
                send_at=NOON_NY,
                dedupe_key="s",
            ),
            "asleep": services.nudge_schedule(
                patient=sleeper, kind="checkin_request", channel="email", send_at=NOON_NY, dedupe_key="t"
            ),
            "archived": services.nudge_schedule(
                patient=archived, kind="checkin_request", channel="email", send_at=NOON_NY, dedupe_key="a"
            ),
            "later": services.nudge_schedule(
                patient=consenting_patient,
                kind="checkin_request",
                channel="email",
                send_at=NOON_NY + timedelta(hours=1),
                dedupe_key="later",
            ),
        }
    return made


def run(*args) -> str:
    out = StringIO()
    call_command("dispatch_nudges", *args, stdout=out)
    return out.getvalue()


@time_machine.travel(NOON_NY, tick=False)
def test_a_dry_run_reports_what_is_due_and_would_be_held_back_and_changes_nothing(due, outbox):
    before = list(Nudge.objects.order_by("pk").values())

    output = run("--dry-run")

    assert "Dry run: nothing was sent or changed." in output
    assert "4 nudges due now." in output
    assert "  3 Check-in request by Email" in output
    assert "  1 Visit reminder by SMS" in output
    assert "2 would be held back." in output
    assert "  1 no SMS consent" in output and "  1 patient is archived" in output
    assert "1 would wait for the patient's quiet hours." in output
    assert "1 would be sent now." in output
    assert list(Nudge.objects.order_by("pk").values()) == before
    assert outbox == []


@time_machine.travel(NOON_NY, tick=False)
def test_a_dry_run_with_nothing_due_says_so(db):
    output = run("--dry-run")
    assert "0 nudges due now." in output and "0 would be sent now." in output


@time_machine.travel(NOON_NY, tick=False)
def test_a_real_run_sends_what_may_go_and_holds_back_the_rest(due, outbox):
    output = run()

    assert "1 sent" in output and "2 held back" in output and "1 deferred for quiet hours" in output
    assert "  1 no SMS consent" in output
    assert len(outbox) == 1 and outbox[0].to == ["renee@example.com"]
    status = {name: Nudge.objects.get(pk=n.pk).status for name, n in due.items()}
    assert status == {
        "ok": "sent",
        "no_sms": "suppressed",
        "asleep": "pending",
        "archived": "suppressed",
        "later": "pending",
    }
    assert run().startswith("0 sent")  # a second pass sends nothing again


def test_a_real_run_marks_nudges_stuck_mid_send_as_unknown_and_sends_the_ones_never_taken(
    consenting_patient, settings, outbox
):
    settings.NUDGE_SENDING_LEASE_SECONDS = 600
    with time_machine.travel(NOON_NY, tick=False):
        stuck, never_taken = (
            services.nudge_schedule(
                patient=consenting_patient, kind="checkin_request", send_at=NOON_NY, dedupe_key=key
            )
            for key in ("stuck", "never-taken")
        )
        services.nudge_claim_due()
        # "stuck" went to its transport and its worker died there; "never-taken" was only claimed.
        Nudge.objects.filter(pk=stuck.pk).update(taken_at=NOON_NY, attempts=1)
    with time_machine.travel(NOON_NY + timedelta(minutes=11), tick=False):
        dry = run("--dry-run")
        stuck.refresh_from_db()
        assert "1 stopped mid-send and would be marked unknown" in dry and stuck.status == "sending"
        assert "1 claimed by a sender that stopped would go back to be sent" in dry
        output = run()
    stuck.refresh_from_db()
    never_taken.refresh_from_db()
    assert stuck.status == "unknown"
    assert "1 nudge stopped mid-send" in output
    assert "1 nudge claimed by a sender that stopped will be sent" in output
    assert never_taken.status == "sent" and len(outbox) == 1
