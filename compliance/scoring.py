"""Adherence, read without judgement.

Each plan item the patient reports on scores done 1, partly 0.5, not this week 0; "paused on
purpose" is left out entirely. A patient's adherence over a window is the mean over every such
report in the check-ins due in that window. Check-ins nobody answered are not zero adherence: they
are the engagement rate, reported apart.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

from django.db.models import Count, Q

from journeys.models import CheckIn

from .models import ComplianceLog


@dataclass(frozen=True)
class Adherence:
    window_start: date
    window_end: date
    score: float | None  # 0–100, None when nothing was reported in the window
    reports: int  # item reports that count (paused excluded)
    answered: int  # check-ins answered in the window
    missed: int  # check-ins missed in the window
    previous_score: float | None  # the window before, for the trend

    @property
    def engagement(self) -> float | None:
        """Share of the window's closed check-ins that were answered, 0–100."""
        closed = self.answered + self.missed
        return round(100 * self.answered / closed, 1) if closed else None

    @property
    def trend(self) -> float | None:
        """Points up (+) or down (−) from the window before."""
        if self.score is None or self.previous_score is None:
            return None
        return round(self.score - self.previous_score, 1)


def _score(logs) -> tuple[float | None, int]:
    weights = [ComplianceLog.SCORES[status] for status in logs if status in ComplianceLog.SCORES]
    if not weights:
        return None, 0
    return round(100 * sum(weights) / len(weights), 1), len(weights)


def _statuses(patient_id: int, start: date, end: date) -> list[str]:
    return list(
        ComplianceLog.objects.filter(
            answer__patient_id=patient_id, checkin__due_on__gte=start, checkin__due_on__lte=end
        ).values_list("status", flat=True)
    )


def patient_adherence(*, patient_id: int, today: date, window_days: int = 28) -> Adherence:
    """Adherence over the ``window_days`` ending ``today`` (check-ins by due date), with the trend."""
    start = today - timedelta(days=window_days - 1)
    previous_start, previous_end = start - timedelta(days=window_days), start - timedelta(days=1)
    score, reports = _score(_statuses(patient_id, start, today))
    previous, _ = _score(_statuses(patient_id, previous_start, previous_end))
    counts = CheckIn.objects.filter(
        journey__patient_id=patient_id, due_on__gte=start, due_on__lte=today
    ).aggregate(
        answered=Count("pk", filter=Q(status=CheckIn.Status.ANSWERED)),
        missed=Count("pk", filter=Q(status=CheckIn.Status.MISSED)),
    )
    return Adherence(
        window_start=start,
        window_end=today,
        score=score,
        reports=reports,
        answered=counts["answered"],
        missed=counts["missed"],
        previous_score=previous,
    )


def item_adherence(*, patient_id: int, today: date, window_days: int = 28) -> dict[int, float | None]:
    """Per plan item (by id): its score in the window, None when only paused or not reported."""
    start = today - timedelta(days=window_days - 1)
    by_item: dict[int, list[str]] = defaultdict(list)
    for item_id, status in ComplianceLog.objects.filter(
        answer__patient_id=patient_id, checkin__due_on__gte=start, checkin__due_on__lte=today
    ).values_list("item_id", "status"):
        by_item[item_id].append(status)
    return {item_id: _score(statuses)[0] for item_id, statuses in by_item.items()}


def recent_answered_score(*, patient_id: int, count: int = 2) -> tuple[float | None, int]:
    """(score over the last ``count`` answered check-ins together, how many were found)."""
    checkin_ids = list(
        CheckIn.objects.filter(journey__patient_id=patient_id, status=CheckIn.Status.ANSWERED)
        .order_by("-due_on")
        .values_list("pk", flat=True)[:count]
    )
    statuses = ComplianceLog.objects.filter(checkin_id__in=checkin_ids).values_list("status", flat=True)
    return _score(list(statuses))[0], len(checkin_ids)


def weekly_scores(*, patient_id: int, weeks: list[date]) -> dict[date, float | None]:
    """Score per week (keyed by the Monday that starts it) for charts; one query."""
    first, last = min(weeks), max(weeks) + timedelta(days=6)
    by_week: dict[date, list[str]] = defaultdict(list)
    for due_on, status in ComplianceLog.objects.filter(
        answer__patient_id=patient_id, checkin__due_on__gte=first, checkin__due_on__lte=last
    ).values_list("checkin__due_on", "status"):
        by_week[due_on - timedelta(days=due_on.weekday())].append(status)
    return {week: _score(by_week.get(week, []))[0] for week in weeks}
