"""Adherence, read without judgement.

Each plan item the patient reports on scores done 1, partly 0.5, not this week 0; "paused on
purpose" is left out entirely. A patient's adherence over a window is the mean over every such
report in the check-ins due in that window. Check-ins nobody answered are not zero adherence: they
are the engagement rate, reported apart.

This module is the rule alone, pure functions over plain values; ``compliance.selectors`` gathers the
reports (``patient_adherence``, ``weekly_scores`` …) and scores them here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

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


def score_of(statuses: Iterable[str]) -> tuple[float | None, int]:
    """(0–100 over the reports that count, how many counted): done 1, partly 0.5, not this week 0, paused
    left out (``ComplianceLog.SCORES``); None when none counted."""
    weights = [ComplianceLog.SCORES[status] for status in statuses if status in ComplianceLog.SCORES]
    if not weights:
        return None, 0
    return round(100 * sum(weights) / len(weights), 1), len(weights)


# --- The falter rules' reading of the evidence -----------------------------------------------------------


@dataclass(frozen=True)
class Recent:
    """The newest answered check-ins (at least ``RECENT_AT_LEAST``, more only until enough item reports
    count) and the ones before them, for the low-adherence and drop rules. Both None without enough."""

    score: float | None
    checkins: int
    reports: int
    baseline: float | None
    baseline_reports: int

    @property
    def drop(self) -> float | None:
        """Points fallen from the baseline to the recent score (positive when lower)."""
        if self.score is None or self.baseline is None:
            return None
        return round(self.baseline - self.score, 1)


RECENT_AT_LEAST = 2
RECENT_AT_MOST = 4


def recent_and_baseline(
    answered: list[tuple[date, list[str]]], *, min_reports: int, baseline_days: int
) -> Recent:
    """Read answered check-ins (``(due_on, statuses)``, newest first, only those the rules may look at):
    the recent sample is the newest ``RECENT_AT_LEAST`` check-ins, widened one at a time up to
    ``RECENT_AT_MOST`` until ``min_reports`` reports count; the baseline is every older check-in due within
    ``baseline_days`` before the oldest of them, also needing ``min_reports``."""
    recent: list[str] = []
    taken = 0
    for _due_on, statuses in answered[:RECENT_AT_MOST]:
        recent += statuses
        taken += 1
        if taken >= RECENT_AT_LEAST and score_of(recent)[1] >= min_reports:
            break
    score, reports = score_of(recent)
    if taken < RECENT_AT_LEAST or reports < min_reports:
        return Recent(None, taken, reports, None, 0)
    oldest = answered[taken - 1][0]
    before = [
        s
        for due_on, statuses in answered[taken:]
        if (oldest - due_on).days <= baseline_days
        for s in statuses
    ]
    baseline, baseline_reports = score_of(before)
    if baseline_reports < min_reports:
        baseline = None
    return Recent(score, taken, reports, baseline, baseline_reports)


@dataclass(frozen=True)
class Latest:
    """The newest answered check-in alone, against the patient's usual (the check-ins due within
    ``baseline_days`` before it); ``usual`` is None without ``min_reports`` reports there."""

    score: float | None
    reports: int
    usual: float | None

    @property
    def drop(self) -> float | None:
        if self.score is None or self.usual is None:
            return None
        return round(self.usual - self.score, 1)


def latest_against_usual(
    answered: list[tuple[date, list[str]]], *, min_reports: int, baseline_days: int
) -> Latest:
    """Read answered check-ins (``(due_on, statuses)``, newest first): the newest one's score, and the
    patient's usual before it — for a hard week the patient told us about, noticed the day it is told."""
    if not answered:
        return Latest(None, 0, None)
    newest_due, newest = answered[0]
    score, reports = score_of(newest)
    usual, usual_reports = score_of(
        s
        for due_on, statuses in answered[1:]
        if (newest_due - due_on).days <= baseline_days
        for s in statuses
    )
    return Latest(score, reports, usual if usual_reports >= min_reports else None)
