"""The whole clinic's board (the pipeline as it opens) reads its cards and counts by SQL written once per
thread with marker moments: the same rows and counts as the ORM's reads, by the same SQL, whatever the moments."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from journeys.models import Stage
from journeys.selectors import pipeline as selectors
from tests.journeys.test_pipeline import started, walk

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen(time_machine):
    time_machine.move_to(NOW, tick=False)


@pytest.fixture
def board(staff, practitioner):
    """Journeys in every column, some closed long ago, one patient with a hostile name and a lead."""
    for days in (1, 5, 9):
        started(staff, days_ago=days, name="<b>&\"'", lead=practitioner)
    walk(started(staff, days_ago=200), staff, (Stage.DISCOVERY, 190), (Stage.INTAKE, 180))
    walk(started(staff, days_ago=300), staff, (Stage.DECLINED, 250))
    walk(started(staff, days_ago=40), staff, (Stage.DECLINED, 20))
    walk(started(staff, days_ago=30), staff, (Stage.DISCOVERY, 20), (Stage.INTAKE, 15), (Stage.PAUSED, 10))
    for entered in (200, 30):  # a graduation long ago and a recent one
        walk(
            started(staff, days_ago=entered + 60),
            staff,
            *[(stage, entered + 50 - n) for n, stage in enumerate([
                Stage.DISCOVERY, Stage.INTAKE, Stage.COMMITMENT, Stage.BLUEPRINT, Stage.CHECK_INS
            ])],
            (Stage.GRADUATED, entered),
        )  # fmt: skip


def shown(cards: dict) -> dict:
    return {
        stage: [(j.pk, j.display_name, j.program_name, j.lead_name) for j in rows]
        for stage, rows in cards.items()
    }


@pytest.mark.parametrize("per_column", [1, 2, 25])
def test_the_cards_are_the_orms_for_any_moment(board, per_column):
    for days in (90, 100, 5, 90):  # again: from the SQL compiled the first time
        since = timezone.now() - timedelta(days=days)
        for closed_since in (since, None):
            expected = selectors.stage_cards(
                selectors.pipeline_journeys(), per_column=per_column, closed_since=closed_since
            )
            got = selectors.whole_clinic_cards(per_column=per_column, closed_since=closed_since)
            assert shown(got) == shown(expected)
    assert any(got.values())


def test_the_cards_are_read_by_the_sql_the_orm_writes(board):
    since = timezone.now() - timedelta(days=90)
    for closed_since in (since, None):
        selectors.whole_clinic_cards(per_column=3, closed_since=closed_since)
        with CaptureQueriesContext(connection) as ours:
            selectors.whole_clinic_cards(per_column=3, closed_since=closed_since)
        with CaptureQueriesContext(connection) as orms:
            selectors.stage_cards(selectors.pipeline_journeys(), per_column=3, closed_since=closed_since)
        assert [q["sql"] for q in ours] == [q["sql"] for q in orms]


@pytest.mark.parametrize("cap", [1, 1_000])
def test_the_counts_are_the_orms_for_any_moments(board, cap):
    for since_days, closed_days in ((90, 90), (100, 20), (5, 300), (90, 90)):
        since = timezone.now() - timedelta(days=since_days)
        for closed_since in (timezone.now() - timedelta(days=closed_days), None):
            expected = selectors.stage_counts_capped(
                selectors.pipeline_journeys(), since=since, closed_since=closed_since, cap=cap
            )
            got = selectors.whole_clinic_counts(since=since, closed_since=closed_since, cap=cap)
            assert got == expected
    assert got["total"] == 1


def test_the_counts_are_read_by_the_sql_the_orm_writes(board):
    since = timezone.now() - timedelta(days=90)
    for closed_since in (since, None):
        selectors.whole_clinic_counts(since=since, closed_since=closed_since, cap=1_000)
        with CaptureQueriesContext(connection) as ours:
            selectors.whole_clinic_counts(since=since, closed_since=closed_since, cap=1_000)
        with CaptureQueriesContext(connection) as orms:
            selectors.stage_counts_capped(
                selectors.pipeline_journeys(), since=since, closed_since=closed_since, cap=1_000
            )
        assert [q["sql"] for q in ours] == [q["sql"] for q in orms]


def test_the_program_options_are_the_orms_programs():
    from journeys.models import Program

    Program.objects.create(name="<b>Gut</b> reset", weeks=12)
    Program.objects.create(name="Autumn", weeks=8, active=False)
    Program.objects.create(name="Sleep", weeks=6)
    for _ in range(2):
        assert selectors.program_options() == [(p.pk, p.name, p.active) for p in selectors.program_choices()]
    assert [name for _, name, _ in selectors.program_options()][-1] == "Autumn"
