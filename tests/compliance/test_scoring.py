from datetime import timedelta

import pytest

from compliance.selectors import item_adherence, patient_adherence, recent_answered_score, weekly_scores
from tests.compliance.conftest import MONDAY, week

pytestmark = pytest.mark.django_db
TODAY = MONDAY + timedelta(days=27)  # a 28-day window: MONDAY … TODAY


def adherence(journey):
    return patient_adherence(patient_id=journey.patient_id, today=TODAY, window_days=28)


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        (["done", "done", "done"], 100.0),
        (["partial", "partial", "partial"], 50.0),
        (["missed", "missed", "missed"], 0.0),
        (["done", "partial", "missed"], 50.0),
        (["done", "paused", "missed"], 50.0),  # paused on purpose is left out, never counted against
        (["paused", "paused", "done"], 100.0),
    ],
)
def test_each_status_scores_done_1_partly_half_not_this_week_0_paused_excluded(plan, statuses, expected):
    journey, _ = plan
    week(journey, MONDAY, statuses)
    assert adherence(journey).score == expected


def test_an_empty_window_has_no_score_rather_than_zero(plan):
    journey, _ = plan
    result = adherence(journey)
    assert (result.score, result.reports, result.engagement, result.trend) == (None, 0, None, None)


def test_only_paused_reports_leave_no_score(plan):
    journey, _ = plan
    week(journey, MONDAY, ["paused", "paused", "paused"])
    assert adherence(journey).score is None


def test_unanswered_check_ins_are_the_engagement_rate_not_zero_adherence(plan):
    journey, _ = plan
    week(journey, MONDAY, ["done", "done", "done"])
    week(journey, MONDAY + timedelta(days=7), missed=True)
    week(journey, MONDAY + timedelta(days=14), missed=True)
    week(journey, MONDAY + timedelta(days=21))  # still open: neither answered nor missed
    result = adherence(journey)
    assert result.score == 100.0
    assert (result.answered, result.missed, result.engagement) == (1, 2, 33.3)


def test_check_ins_outside_the_window_do_not_count(plan):
    journey, _ = plan
    week(journey, MONDAY - timedelta(days=1), ["missed", "missed", "missed"])
    week(journey, TODAY + timedelta(days=1), ["missed", "missed", "missed"])
    week(journey, MONDAY, ["done", "done", "done"])
    assert adherence(journey).score == 100.0


def test_the_trend_compares_the_window_with_the_one_before(plan):
    journey, _ = plan
    week(journey, MONDAY - timedelta(days=7), ["done", "done", "done"])  # previous window: 100
    week(journey, MONDAY + timedelta(days=7), ["done", "missed", "missed"])  # this window: 33.3
    result = adherence(journey)
    assert (result.previous_score, result.score, result.trend) == (100.0, 33.3, -66.7)


def test_item_adherence_per_item(plan):
    journey, items = plan
    week(journey, MONDAY, ["done", "paused", "missed"])
    week(journey, MONDAY + timedelta(days=7), ["partial", "paused", "done"])
    scores = item_adherence(patient_id=journey.patient_id, today=TODAY)
    assert scores == {items[0].pk: 75.0, items[1].pk: None, items[2].pk: 50.0}


def test_recent_answered_score_takes_the_last_two_answered_check_ins_together(plan):
    journey, _ = plan
    week(journey, MONDAY, ["missed", "missed", "missed"])
    week(journey, MONDAY + timedelta(days=7), ["done", "done", "partial"])
    week(journey, MONDAY + timedelta(days=14), missed=True)
    week(journey, MONDAY + timedelta(days=21), ["done", "missed", "missed"])
    score, found = recent_answered_score(patient_id=journey.patient_id, count=2)
    assert found == 2
    assert score == round(100 * (1 + 1 + 0.5 + 1) / 6, 1)


def test_weekly_scores_for_the_chart(plan):
    journey, _ = plan
    week(journey, MONDAY + timedelta(days=2), ["done", "done", "missed"])
    weeks = [MONDAY, MONDAY + timedelta(days=7)]
    assert weekly_scores(patient_id=journey.patient_id, weeks=weeks) == {weeks[0]: 66.7, weeks[1]: None}
