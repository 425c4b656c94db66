"""The figures behind Pipeline and Insights: the columns kept for them (a stay's end, an answer's tally), the
backfills that fill them for old rows, and the summary beat refreshes — right on a small clinic counted by hand,
and the same number of queries however much the clinic holds."""

import importlib
from datetime import UTC, date, datetime, timedelta
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from compliance.models import CheckInAnswer, ComplianceLog
from compliance.services import answer_tallies_refresh, checkin_answer_record
from dashboard import figures
from dashboard.models import Figures
from dashboard.tasks import refresh_figures
from journeys.models import Blueprint, BlueprintItem, CheckIn, Journey, Stage, StageChange
from journeys.selectors.pipeline import pipeline_flow
from journeys.services.stages import journey_move, journey_start
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)  # a Tuesday
TODAY = date(2026, 12, 1)


@pytest.fixture(autouse=True)
def frozen(time_machine):
    time_machine.move_to(NOW, tick=False)


def days_ago(n: float) -> datetime:
    return NOW - timedelta(days=n)


def walked(actor, start: float, *steps: tuple[str, float]) -> Journey:
    journey = journey_start(patient=PatientFactory(), actor=actor, at=days_ago(start))
    for stage, ago in steps:
        extra = {"reason": "timing", "note": "travelling"} if stage == Stage.PAUSED else {}
        journey_move(journey=journey, to_stage=stage, actor=actor, at=days_ago(ago), **extra)
    return journey


@pytest.fixture
def small_clinic(staff):
    """Three journeys moved through the services.

    a: inquiry 3 days, discovery 5 days, now at intake
    b: inquiry 1 day, discovery 2 days, paused 4 days, discovery again (still there)
    c: inquiry, still there
    Conversion: inquiry 3 entered, 2 went on; discovery 2 entered (b's resume is no new entry), 1 went on.
    Median stay: inquiry (3, 1) → 2; discovery (5, 2) → 3.5; paused 4.
    """
    walked(staff, 20, (Stage.DISCOVERY, 17), (Stage.INTAKE, 12))
    walked(staff, 20, (Stage.DISCOVERY, 19), (Stage.PAUSED, 17), (Stage.DISCOVERY, 13))
    walked(staff, 5)


def test_a_move_ends_the_stay_it_leaves_and_only_that_one(staff, small_clinic):
    journey = Journey.objects.get(stage=Stage.INTAKE)
    stays = list(journey.stage_changes.order_by("at").values_list("to_stage", "at", "left_at"))
    assert stays == [
        (Stage.INQUIRY, days_ago(20), days_ago(17)),
        (Stage.DISCOVERY, days_ago(17), days_ago(12)),
        (Stage.INTAKE, days_ago(12), None),
    ]


def test_the_flow_is_counted_right_on_a_small_clinic(small_clinic):
    flow = pipeline_flow()
    assert flow.conversion[Stage.INQUIRY] == (3, 2)
    assert flow.conversion[Stage.DISCOVERY] == (2, 1)
    assert flow.conversion[Stage.INTAKE] == (1, 0)
    assert flow.medians == {Stage.INQUIRY: 2.0, Stage.DISCOVERY: 3.5, Stage.PAUSED: 4.0}


def test_the_migration_fills_the_end_of_every_stay_as_the_service_does(small_clinic):
    kept = dict(StageChange.objects.values_list("pk", "left_at"))
    StageChange.objects.update(left_at=None)
    migration = importlib.import_module("journeys.migrations.0008_stagechange_left_at")
    with connection.cursor() as cursor:
        cursor.execute(migration.LEFT_AT)
    assert dict(StageChange.objects.values_list("pk", "left_at")) == kept


# --- Answers' tallies -----------------------------------------------------------------------------------


@pytest.fixture
def plan(practitioner):
    journey = Journey.objects.create(patient=PatientFactory(), stage=Stage.CHECK_INS)
    blueprint = Blueprint.objects.create(
        journey=journey, version=1, status="published", created_by=practitioner, published_at=days_ago(30)
    )
    items = [
        BlueprintItem.objects.create(blueprint=blueprint, kind="lifestyle", title=title, position=i)
        for i, title in enumerate(["Magnesium", "Walk", "Sleep by 11", "No sugar"])
    ]
    return journey, items


def answer(journey, items, due_on: date, statuses: list[str]) -> CheckInAnswer:
    checkin = CheckIn.objects.create(
        journey=journey, due_on=due_on, closes_at=NOW + timedelta(days=1), status=CheckIn.Status.SCHEDULED
    )
    return checkin_answer_record(
        checkin=checkin,
        items_status={
            item.pk: (status, "away" if status == "paused" else "")
            for item, status in zip(items, statuses, strict=True)
        },
        where_it_failed="",
        barriers=[],
        ratings={},
    )


def test_an_answer_keeps_its_due_day_and_tally_and_an_amendment_recounts_it(plan):
    journey, items = plan
    recorded = answer(journey, items, date(2026, 11, 30), ["done", "partial", "missed", "paused"])
    recorded.refresh_from_db()
    assert (recorded.due_on, recorded.done, recorded.partly, recorded.missed) == (date(2026, 11, 30), 1, 1, 1)
    checkin_answer_record(
        checkin=recorded.checkin,
        items_status={item.pk: ("done", "") for item in items},
        where_it_failed="",
        barriers=[],
        ratings={},
    )
    recorded.refresh_from_db()
    assert (recorded.done, recorded.partly, recorded.missed) == (4, 0, 0)


def test_the_refresh_and_the_migration_count_tallies_as_the_service_does(plan):
    journey, items = plan
    answer(journey, items, date(2026, 11, 23), ["done", "done", "partial", "paused"])
    answer(journey, items, date(2026, 11, 30), ["missed", "missed", "partial", "done"])
    columns = ("due_on", "done", "partly", "missed")
    kept = {row[0]: row[1:] for row in CheckInAnswer.objects.values_list("pk", *columns)}
    CheckInAnswer.objects.update(due_on=None, done=0, partly=0, missed=0)
    answer_tallies_refresh()
    assert {row[0]: row[1:] for row in CheckInAnswer.objects.values_list("pk", *columns)} == kept
    CheckInAnswer.objects.update(due_on=None, done=0, partly=0, missed=0)
    migration = importlib.import_module("compliance.migrations.0006_answer_due_day_and_tally")
    with connection.cursor() as cursor:
        cursor.execute(migration.DUE_ON)
        cursor.execute(migration.TALLY)
    assert {row[0]: row[1:] for row in CheckInAnswer.objects.values_list("pk", *columns)} == kept


def test_clinic_adherence_is_the_weighted_share_of_the_reports_in_the_window(client_for, staff, plan):
    journey, items = plan
    # In the 28 days: done 3, partly 2, missed 2 (paused left out) → (3 + 1) / 7 = 57.1%.
    answer(journey, items, date(2026, 11, 23), ["done", "done", "partial", "paused"])
    answer(journey, items, date(2026, 11, 30), ["missed", "missed", "partial", "done"])
    # The 28 days before: done 4 → 100%, so the trend is −42.9 points.
    answer(journey, items, date(2026, 10, 20), ["done", "done", "done", "done"])
    adherence = client_for(staff).get("/insights/").context["insights"].adherence
    assert (adherence.score, adherence.reports, adherence.patients) == (57.1, 7, 1)
    assert (adherence.previous_score, adherence.trend) == (100.0, -42.9)


def test_the_seed_writes_the_kept_columns_as_the_services_would():
    call_command(
        "seed_scale", patients=12, seed=5, now="2026-11-02T09:00:00+00:00", chunk=5, stdout=StringIO()
    )
    assert ComplianceLog.objects.exists()
    seeded_answers = set(CheckInAnswer.objects.values_list("pk", "due_on", "done", "partly", "missed"))
    seeded_stays = set(StageChange.objects.values_list("pk", "left_at"))
    answer_tallies_refresh()
    migration = importlib.import_module("journeys.migrations.0008_stagechange_left_at")
    StageChange.objects.update(left_at=None)
    with connection.cursor() as cursor:
        cursor.execute(migration.LEFT_AT)
    assert (
        set(CheckInAnswer.objects.values_list("pk", "due_on", "done", "partly", "missed")) == seeded_answers
    )
    assert set(StageChange.objects.values_list("pk", "left_at")) == seeded_stays


# --- The summary beat refreshes ------------------------------------------------------------------------


def test_beat_refreshes_the_figures_every_figures_refresh_seconds():
    entry = settings.CELERY_BEAT_SCHEDULE["refresh-figures"]
    assert entry == {"task": "dashboard.refresh_figures", "schedule": float(settings.FIGURES_REFRESH_SECONDS)}
    assert refresh_figures.name == "dashboard.refresh_figures"


def test_insights_reads_the_summary_for_a_usual_range_and_says_when_it_was_counted(
    client_for, staff, plan, time_machine
):
    journey, items = plan
    answer(journey, items, date(2026, 11, 23), ["done", "done", "partial", "missed"])
    time_machine.move_to(datetime(2026, 12, 1, 14, 20, tzinfo=UTC), tick=False)
    assert (
        refresh_figures() == 6
    )  # the pipeline's flow, the referrals by day and the 14, 28, 56 and 91 days ending today
    answer(journey, items, date(2026, 11, 30), ["missed", "missed", "missed", "missed"])
    time_machine.move_to(datetime(2026, 12, 1, 14, 25, tzinfo=UTC), tick=False)
    client = client_for(staff)

    response = client.get("/insights/")  # the clinic's 28 days: counted at 14:20, before the second answer
    assert response.context["insights"].adherence.score == 62.5
    assert response.context["insights"].as_of == datetime(2026, 12, 1, 14, 20, tzinfo=UTC)
    assert "figures as of" in response.content.decode()
    _, rows = csv_rows(client, "adherence")
    assert ["2026-11-23", "62.5", "4"] in rows  # the download reads the same summary

    # Not a usual range: summed from the daily roll-ups the same refresh counted, and as of then too.
    other = client.get("/insights/?start=2026-11-20&end=2026-12-01")
    assert other.context["insights"].as_of == datetime(2026, 12, 1, 14, 20, tzinfo=UTC)
    assert other.context["insights"].adherence.score == 62.5
    assert "figures as of" in other.content.decode()
    figures.figures_refresh()  # at 14:25: now the second answer counts too
    assert (
        client.get("/insights/?start=2026-11-20&end=2026-12-01").context["insights"].adherence.score == 31.2
    )


def test_a_summary_older_than_twice_the_refresh_period_is_not_used(client_for, staff, plan, time_machine):
    journey, items = plan
    figures.figures_refresh()
    answer(journey, items, date(2026, 11, 23), ["done", "done", "done", "done"])
    time_machine.move_to(NOW + timedelta(seconds=2 * settings.FIGURES_REFRESH_SECONDS + 1), tick=False)
    insights = client_for(staff).get("/insights/").context["insights"]
    assert insights.as_of is None and insights.adherence.score == 100.0


def test_the_summary_keeps_only_todays_ranges(time_machine):
    figures.figures_refresh()
    time_machine.move_to(NOW + timedelta(days=1), tick=False)
    figures.figures_refresh()
    keys = set(Figures.objects.values_list("key", flat=True))
    assert len(keys) == 6 and all(
        key.endswith("2026-12-02") for key in keys - {figures.PIPELINE_FLOW, figures.REFERRALS}
    )


def test_the_whole_clinics_board_reads_its_flow_from_the_summary_a_narrowed_one_counts_its_own(
    client_for, staff, practitioner, small_clinic
):
    figures.figures_refresh()
    walked(staff, 3, (Stage.DISCOVERY, 2))  # after the refresh: not in the summary's figures
    client = client_for(staff)
    board = client.get("/pipeline/").context["board"]
    inquiry = next(column for column in board.columns if column.stage == Stage.INQUIRY)
    assert (inquiry.entered, inquiry.went_on, inquiry.median_days) == (3, 2, 2.0)
    assert board.flow_as_of == NOW
    assert "Conversion and median days as of" in client.get("/pipeline/").content.decode()
    narrowed = client.get(f"/pipeline/?lead={practitioner.pk}").context["board"]
    assert narrowed.flow_as_of is None


def csv_rows(client, table):
    import csv
    import io

    response = client.get(f"/insights/{table}.csv")
    text = b"".join(response.streaming_content).decode("utf-8").lstrip("\ufeff")
    return response, list(csv.reader(io.StringIO(text)))


# --- Query budgets -------------------------------------------------------------------------------------


def queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured.captured_queries)


@pytest.mark.parametrize("summary", [False, True], ids=["counted", "from the summary"])
def test_pipeline_and_insights_cost_the_same_queries_for_5_and_50_patients(client_for, staff, summary):
    client = client_for(staff)
    pages = ["/pipeline/", "/insights/", "/insights/?start=2026-09-02&end=2026-12-01", "/insights/funnel.csv"]

    def seeded(patients: int, seed: int) -> dict[str, int]:
        call_command(
            "seed_scale", patients=patients, seed=seed, now=NOW.isoformat(), chunk=10, stdout=StringIO()
        )
        if summary:
            figures.figures_refresh()
        return {url: queries(client, url) for url in pages}

    small = seeded(5, 13)
    large = seeded(45, 14)
    assert large == small
