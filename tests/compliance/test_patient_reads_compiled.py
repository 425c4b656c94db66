"""The patient page's reads for its header and its Adherence and Alerts panels, compiled once per thread
(``accounts.queries.Compiled``) and run with each patient's id and days: the ORM's rows, by the ORM's SQL, for
patients with and without a history, and nothing of one patient left for the next."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.db.models import Count, Q
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from compliance import selectors
from compliance.models import Alert, CheckInAnswer
from compliance.services import course_correct
from journeys.models import Blueprint, BlueprintItem, CheckIn, Journey, Stage, Visit
from journeys.selectors.timeline import _journey_queryset, patient_journey
from journeys.selectors.visits import patient_next_visit
from nudges.models import InboundMessage, Kind, Nudge
from tests.compliance.conftest import MONDAY, week
from tests.factories import CareTeamMemberFactory, PatientFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 29, 17, 0, tzinfo=UTC)
HOSTILE = "<script>alert('x')</script> \"Quote\" & Sons"


@pytest.fixture(autouse=True)
def frozen(time_machine):
    time_machine.move_to(NOW, tick=False)


@pytest.fixture
def patients(plan, practitioner):
    """Three patients: one with a plan, weeks of answers, an alert corrected and one open, a visit booked; one
    with an older ended journey and a paused plan item; one with nothing."""
    journey, _ = plan
    patient = journey.patient
    CareTeamMemberFactory(patient=patient, user=practitioner, role="lead")
    week(journey, MONDAY - timedelta(days=7), ["done", "missed", "missed"])
    week(journey, MONDAY, ["done", "partial", "paused"])
    checkin = week(journey, MONDAY + timedelta(days=14), ["done", "done", "done"])
    CheckInAnswer.objects.filter(checkin=checkin).update(where_it_failed=HOSTILE, energy=4)
    week(journey, MONDAY + timedelta(days=21), missed=True)
    corrected = Alert.objects.create(
        patient=patient, journey=journey, reason=Alert.Reason.LOW_ADHERENCE, opened_at=NOW - timedelta(days=3)
    )
    course_correct(alert=corrected, actor=practitioner, change="simplified", note=HOSTILE)
    Alert.objects.create(patient=patient, journey=journey, reason=Alert.Reason.LOW_ADHERENCE, opened_at=NOW)
    Visit.objects.create(
        patient=patient, practitioner=practitioner, kind="follow_up", starts_at=NOW + timedelta(days=2)
    )
    other = PatientFactory(first_name=HOSTILE)
    Journey.objects.create(patient=other, stage=Stage.DECLINED, ended_at=NOW - timedelta(days=90))
    current = Journey.objects.create(patient=other, stage=Stage.CHECK_INS)
    blueprint = Blueprint.objects.create(
        journey=current, version=1, status="published", created_by=practitioner, published_at=NOW
    )
    BlueprintItem.objects.create(blueprint=blueprint, kind="diet", title=HOSTILE, position=0, status="paused")
    week(current, MONDAY + timedelta(days=7), ["partial"])
    return [patient, other, PatientFactory()]


WEEKS = [MONDAY + timedelta(weeks=n) for n in range(-2, 5)]


def orms_reads(patient):
    """What each read returns through the ORM's own queryset, as before it was compiled."""
    between = (patient.pk, MONDAY - timedelta(days=7), MONDAY + timedelta(days=27))
    items = list(selectors._plan_items_query(patient.pk))
    return {
        "statuses": list(selectors._logs_between(*between).values_list("status", flat=True)),
        "weekly": list(selectors._logs_between(*between).values_list("checkin__due_on", "status")),
        "items": [(item.pk, item.blueprint.pk, item.title) for item in items],
        "item rows": list(
            selectors._plan_items_query(patient.pk).values_list(
                "pk", "kind", "title", "blueprint__journey_id"
            )
        ),
        "item logs": list(selectors._item_logs_query(items[0].blueprint.journey_id, WEEKS[0], WEEKS[-1]))
        if items
        else [],
        "open alerts": list(
            Alert.objects.filter(patient=patient, resolved_at__isnull=True).order_by("opened_at", "pk")
        ),
        "corrections": [
            (c.pk, c.practitioner_id, c.alert.pk, c.note)
            for c in selectors._corrections(alert__patient=patient)[:10]
        ],
        "journey": _journey_queryset().filter(patient=patient).first(),
        "visit": Visit.objects.filter(patient=patient, status="scheduled", ends_at__gte=timezone.now())
        .select_related("practitioner")
        .order_by("starts_at", "id")
        .first(),
        "checkin counts": list(selectors._checkin_counts_query(*between)),
        "replies": [
            (m.pk, m.checkin_request_id, m.channel, m.body, m.received_at)
            for m in selectors._replies_query(request_ids(patient))
        ],
    }


def request_ids(patient) -> list[int]:
    return list(
        CheckIn.objects.filter(journey__patient=patient, request_nudge__isnull=False)
        .order_by("pk")
        .values_list("request_nudge_id", flat=True)
    ) or [0]


def compiled_reads(patient):
    between = (patient.pk, MONDAY - timedelta(days=7), MONDAY + timedelta(days=27))
    reads = selectors._patient_reads()
    items = selectors.current_plan_items(patient_id=patient.pk)
    patient.__dict__.pop("_open_alerts", None)
    journey = patient_journey(patient)
    return {
        "statuses": selectors._statuses(*between),
        "weekly": reads["weekly"].rows(*between),
        "items": [(item.pk, item.blueprint.pk, item.title) for item in items],
        "item rows": selectors.current_plan_item_rows(patient_id=patient.pk),
        "item logs": reads["item logs"].rows(items[0].blueprint.journey_id, WEEKS[0], WEEKS[-1])
        if items
        else [],
        "open alerts": selectors.patient_open_alerts(patient),
        "corrections": [
            (c.pk, c.practitioner_id, c.alert.pk, c.note)
            for c in selectors.patient_corrections(patient, limit=10)
        ],
        "journey": journey.journey if journey else None,
        "visit": patient_next_visit(patient),
        "checkin counts": reads["checkin counts"].rows(*between),
        "replies": [
            (m.pk, m.checkin_request_id, m.channel, m.body, m.received_at)
            for m in reads["replies"].rows(request_ids(patient))
        ],
    }


def test_each_read_is_the_orms_for_every_patient(patients):
    for patient in patients * 2:  # the second round from the SQL compiled in the first
        ours, orms = compiled_reads(patient), orms_reads(patient)
        assert ours == orms
        if ours["journey"] is not None:
            assert ours["journey"].exit_from == orms["journey"].exit_from
        if ours["visit"] is not None:
            assert ours["visit"].practitioner.pk == orms["visit"].practitioner.pk
    assert orms_reads(patients[0])["corrections"][0][3] == HOSTILE
    assert compiled_reads(patients[2]) == {
        **{key: [] for key in orms_reads(patients[2])},
        "journey": None,
        "visit": None,
    }


def test_the_panels_figures_are_the_orms(patients, practitioner):
    for patient in patients:
        for clinical in (True, False):
            answers = selectors.recent_answers(patient_id=patient.pk, clinical=clinical, limit=5)
            rows = list(
                CheckInAnswer.objects.filter(patient_id=patient.pk)
                .order_by("-answered_at", "-checkin__due_on", "-pk")
                .values_list("pk", flat=True)[:5]
            )
            assert [answer.pk for answer in answers] == rows
            assert all((answer.words is None) != clinical for answer in answers)
        scores = selectors.weekly_scores(patient_id=patient.pk, weeks=WEEKS)
        assert set(scores) == set(WEEKS)
    answers = selectors.recent_answers(patient_id=patients[0].pk, clinical=True, limit=5)
    assert HOSTILE in [answer.words for answer in answers]
    adherence = selectors.patient_adherence(patient_id=patients[0].pk, today=NOW.date(), window_days=28)
    assert (adherence.answered, adherence.missed) == (2, 1)


def test_the_heat_maps_rows_from_the_items_rows_are_the_items_own(patients):
    for patient in patients:
        items = selectors.current_plan_items(patient_id=patient.pk)
        rows = selectors.current_plan_item_rows(patient_id=patient.pk)
        assert rows == [(item.pk, item.kind, item.title, item.blueprint.journey_id) for item in items]
        assert selectors.item_rows_weekly_scores(rows=rows, weeks=WEEKS) == selectors.item_weekly_scores(
            items=items, weeks=WEEKS
        )
    assert selectors.item_rows_weekly_scores(
        rows=selectors.current_plan_item_rows(patient_id=patients[0].pk), weeks=WEEKS
    )


def test_the_check_in_counts_are_the_aggregate_they_replaced(patients):
    for patient in patients:
        for start, end in ((MONDAY - timedelta(days=7), MONDAY + timedelta(days=27)), (MONDAY, MONDAY)):
            old = CheckIn.objects.filter(
                journey__patient_id=patient.pk, due_on__gte=start, due_on__lte=end, kind=CheckIn.Kind.PROGRAM
            ).aggregate(
                answered=Count("pk", filter=Q(status=CheckIn.Status.ANSWERED)),
                missed=Count("pk", filter=Q(status=CheckIn.Status.MISSED)),
            )
            adherence = selectors.patient_adherence(
                patient_id=patient.pk, today=end, window_days=(end - start).days + 1
            )
            assert (adherence.answered, adherence.missed) == (old["answered"], old["missed"])


def test_the_replies_to_check_in_requests_are_the_orms(patients):
    patient = patients[0]
    checkins = list(CheckIn.objects.filter(journey__patient=patient).order_by("due_on"))
    for n, checkin in enumerate(checkins[:2]):
        checkin.request_nudge = Nudge.objects.create(
            patient=patient, kind=Kind.CHECKIN_REQUEST, channel="sms", send_at=NOW, dedupe_key=f"request:{n}"
        )
        checkin.save(update_fields=["request_nudge"])
        for m in range(2):
            InboundMessage.objects.create(
                patient=patient, channel="sms", body=f"{HOSTILE} {n}.{m}", checkin_request=checkin.request_nudge,
                received_at=NOW - timedelta(hours=n * 10 + m),
            )  # fmt: skip
    ids = [checkin.request_nudge_id for checkin in checkins[:2]]
    for asked in (ids, ids[:1], [*ids, None, 0], []):
        replies = selectors.checkin_replies(request_ids=asked)
        expected = {}
        for message in InboundMessage.objects.filter(checkin_request_id__in=[i for i in asked if i]).order_by(
            "received_at", "pk"
        ):
            expected.setdefault(message.checkin_request_id, []).append(message)
        assert replies == expected
    assert [m.body for m in selectors.checkin_replies(request_ids=ids)[ids[0]]] == [
        f"{HOSTILE} 0.1",
        f"{HOSTILE} 0.0",
    ]


def test_the_reads_run_the_sql_the_orm_writes(patients):
    patient = patients[0]
    compiled_reads(patient)  # compiled
    with CaptureQueriesContext(connection) as ours:
        compiled_reads(patient)
    with CaptureQueriesContext(connection) as orms:
        orms_reads(patient)
    assert sorted(q["sql"] for q in ours.captured_queries) == sorted(q["sql"] for q in orms.captured_queries)
