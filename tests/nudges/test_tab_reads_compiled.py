"""The Messages tab's reads (recent nudges, the check-in requests to come, the patient's replies), compiled once
per thread (``accounts.queries.Compiled``) and run with each patient's id and moment: the ORM's rows by the
ORM's SQL, the replies' words still unread for a role that may not read them."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from nudges import selectors
from nudges.models import InboundMessage, Kind, Nudge
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db

HOSTILE = "<script>alert('x')</script> \"Quote\" & Sons"


def nudge(patient, at, *, key, kind="one_off", status=Nudge.Status.SENT):
    return Nudge.objects.create(
        patient=patient,
        kind=kind,
        channel="email",
        send_at=at,
        sent_at=at if status == Nudge.Status.SENT else None,
        status=status,
        dedupe_key=key,
        body_text=HOSTILE,
    )


@pytest.fixture
def patients():
    now = timezone.now()
    heavy, light = PatientFactory(first_name=HOSTILE), PatientFactory()
    for n in range(25):
        nudge(heavy, now - timedelta(days=n), key=f"past-{n}")
    for n in range(1, 4):
        nudge(
            heavy,
            now + timedelta(days=7 * n),
            key=f"request-{n}",
            kind=Kind.CHECKIN_REQUEST,
            status="pending",
        )
    nudge(light, now + timedelta(days=1), key="one-off-to-come", status="pending")
    sent = Nudge.objects.filter(patient=heavy).order_by("-send_at").first()
    for _ in range(3):
        InboundMessage.objects.create(
            patient=heavy, channel="sms", from_address="+13125550100", body=HOSTILE, in_reply_to=sent
        )
    return [heavy, light, PatientFactory()]


def orms(patient, now):
    future = Nudge.objects.filter(
        patient=patient, kind=Kind.CHECKIN_REQUEST, status=Nudge.Status.PENDING, send_at__gt=now
    )
    replies = (
        InboundMessage.objects.filter(patient=patient)
        .select_related("in_reply_to")
        .only(*selectors.REPLY_FIELDS, "body", "in_reply_to__kind", "in_reply_to__sent_at")
        .order_by("-received_at", "-id")
    )
    return {
        "messages": list(
            Nudge.objects.filter(patient=patient)
            .exclude(pk__in=future.values("pk"))
            .select_related("created_by")
            .defer("body_html")
            .order_by("-send_at", "-id")[:20]
        ),
        "requests": future.count(),
        "replies": list(replies[:20]),
        "replies unread": list(replies.defer("body")[:20]),
    }


def ours(patient, now):
    return {
        "messages": selectors.patient_messages(patient, limit=20, now=now),
        "requests": selectors.patient_scheduled_requests(patient, now=now).count,
        "replies": selectors.patient_replies(patient, clinical=True, limit=20),
        "replies unread": selectors.patient_replies(patient, clinical=False, limit=20),
    }


def test_each_read_is_the_orms_for_every_patient_and_moment(patients):
    for now in (timezone.now(), timezone.now() + timedelta(days=8), timezone.now() - timedelta(days=3)):
        for patient in patients * 2:  # the second round from the SQL compiled in the first
            assert ours(patient, now) == orms(patient, now)
    read = ours(patients[0], timezone.now())
    assert len(read["messages"]) == 20 and read["requests"] == 3
    assert [reply.body for reply in read["replies"]] == [HOSTILE] * 3
    assert all("body" in reply.get_deferred_fields() for reply in read["replies unread"])


def test_the_reads_run_the_sql_the_orm_writes(patients):
    now = timezone.now()
    ours(patients[0], now)  # compiled
    with CaptureQueriesContext(connection) as compiled:
        ours(patients[0], now)
    with CaptureQueriesContext(connection) as orm:
        orm_reads = orms(patients[0], now)
        list(selectors._scheduled_query(patients[0].pk, now))
    assert orm_reads
    ran = sorted(q["sql"] for q in compiled.captured_queries)
    expected = sorted(q["sql"] for q in orm.captured_queries if "COUNT(*) AS" not in q["sql"])
    assert ran == expected
