"""The dispatcher's round trips: on PostgreSQL a send costs one statement (its take, which also writes 'sent'
for the send before it), and none of the outbox's rules loosen for it."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import OperationalError, connection
from django.db.backends.utils import CursorWrapper
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from nudges import services
from nudges.budget import PRIORITY
from nudges.models import Kind, Nudge
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db

NOON_NY = datetime(2027, 6, 10, 16, 0, tzinfo=UTC)  # 12:00 in New York, outside quiet hours


def consenting(n: int, staff) -> list:
    from patients import services as patient_services

    patients = []
    for i in range(n):
        patient = PatientFactory(email=f"p{i}@example.com", time_zone="America/New_York")
        patient_services.consent_record(patient=patient, channel="email", granted=True, actor=staff, via="t")
        patients.append(patient)
    return patients


def schedule_for(patients, prefix: str) -> None:
    for i, patient in enumerate(patients):
        services.nudge_schedule(
            patient=patient,
            kind=Kind.VISIT_REMINDER,
            channel="email",
            send_at=timezone.now() - timedelta(minutes=1),
            dedupe_key=f"{prefix}:{i}",
            context={"visit_kind": "follow-up visit", "visit_when": "Friday 11 June at 10:00"},
        )


def statements_to_dispatch(patients, prefix: str) -> int:
    schedule_for(patients, prefix)
    with CaptureQueriesContext(connection) as queries:
        report = services.nudge_dispatch_due()
    assert report.sent == len(patients)
    return len(queries)


@time_machine.travel(NOON_NY, tick=True)
def test_each_send_costs_one_statement_on_postgresql_and_two_elsewhere(staff, outbox):
    few = statements_to_dispatch(consenting(5, staff), "few")
    many = statements_to_dispatch(consenting(25, staff), "many")
    per_send = 1 if connection.vendor == "postgresql" else 2
    assert many - few == 20 * per_send
    assert Nudge.objects.filter(status=Nudge.Status.SENT).count() == 30
    assert len(outbox) == 30


@time_machine.travel(NOON_NY, tick=True)
def test_the_weekly_budget_holds_within_one_batch_while_its_sent_records_wait_for_the_next_take(
    consenting_patient, outbox, settings
):
    settings.NUDGE_WEEKLY_BUDGET = 3
    now = timezone.now()
    Nudge.objects.create(
        patient=consenting_patient, kind=Kind.CHECKIN_MISSED, channel="email", status=Nudge.Status.SENT,
        send_at=now - timedelta(days=1), sent_at=now - timedelta(days=1), dedupe_key="history",
    )  # fmt: skip
    kinds = [Kind.CHECKIN_REQUEST, Kind.INQUIRY_WELCOME, Kind.CHECKIN_MISSED, Kind.CHECKIN_REQUEST]
    context = {"checkin_url": "https://crm.example/c/t/"}
    nudges = [
        services.nudge_schedule(
            patient=consenting_patient,
            kind=kind,
            channel="email",
            send_at=now - timedelta(minutes=5 - i),
            dedupe_key=f"k{i}",
            context=context,
        )
        for i, kind in enumerate(kinds)
    ]

    report = services.nudge_dispatch_due()

    statuses = [Nudge.objects.get(pk=n.pk).status for n in nudges]
    # Two slots left: the two check-in requests (highest priority) take them, whatever the batch's order.
    assert statuses == ["sent", "suppressed", "suppressed", "sent"]
    assert (report.sent, len(outbox)) == (2, 2)
    assert PRIORITY[Kind.CHECKIN_REQUEST] > PRIORITY[Kind.CHECKIN_MISSED] > PRIORITY[Kind.INQUIRY_WELCOME]


# In autocommit, as a worker runs.
@pytest.mark.django_db(transaction=True)
@time_machine.travel(NOON_NY, tick=True)
def test_when_the_take_carrying_a_sent_fails_the_sent_is_still_written_and_the_rest_go_back(
    staff, outbox, monkeypatch
):
    patients = consenting(3, staff)
    schedule_for(patients, "k")
    execute, takes = CursorWrapper.execute, []

    def fail_the_second_take(self, sql, params=None):
        if "taken_at = %s, attempts = attempts + 1" in sql:
            takes.append(sql)
            if len(takes) == 2:
                raise OperationalError("the connection was lost")
        return execute(self, sql, params)

    monkeypatch.setattr(CursorWrapper, "execute", fail_the_second_take)
    with pytest.raises(OperationalError):
        services.nudge_dispatch_due()

    statuses = list(Nudge.objects.order_by("send_at", "id").values_list("status", "taken_at"))
    assert statuses[0][0] == Nudge.Status.SENT
    assert [(status, taken_at) for status, taken_at in statuses[1:]] == [(Nudge.Status.PENDING, None)] * 2
    assert len(outbox) == 1


def test_a_patient_read_again_when_held_back_is_the_orms_patient_by_the_orms_sql(staff):
    """The read a held-back nudge makes of its patient (``services._patient_now``) is compiled once per thread:
    the ORM's patient with its consent in force, by the same SQL, for each patient in turn and after their
    consent changed; an unknown id raises as ``.get()`` does."""
    from patients import services as patient_services
    from patients.models import Patient

    patients = consenting(3, staff)
    patient_services.consent_record(patient=patients[1], channel="sms", granted=True, actor=staff, via="t")
    fields = ("pk", "email", "phone", "email_consent_granted", "email_consent_address", "sms_consent_granted",
              "sms_consent_address", "unsubscribed_at", "archived")  # fmt: skip

    def seen(patient):
        return tuple(getattr(patient, name, None) for name in fields)

    for _consent_changed in (False, True):
        for patient in patients:
            with CaptureQueriesContext(connection) as orm:
                expected = Patient.objects.with_consent().get(pk=patient.pk)
            with CaptureQueriesContext(connection) as compiled:
                got = services._patient_now(patient.pk)
            assert seen(got) == seen(expected)
            assert got.__dict__.keys() == expected.__dict__.keys()
            assert len(compiled) == len(orm) == 1
            assert orm[0]["sql"] == compiled[0]["sql"] + " LIMIT 21"  # the ORM's, less get()'s LIMIT
        patient_services.consent_record(
            patient=patients[0], channel="email", granted=False, actor=staff, via="t"
        )
    with pytest.raises(Patient.DoesNotExist):
        services._patient_now(918_273_799)
