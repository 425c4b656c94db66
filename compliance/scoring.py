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
