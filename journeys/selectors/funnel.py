"""A step of the journey funnel Insights shows: along the path from inquiry to advocate, how many journeys entered
a stage in a period, how many of them went on to the next, and the median days a stay took (counted from the
daily roll-ups, ``dashboard.rollups``)."""

from __future__ import annotations

from dataclasses import dataclass

from ..models import Stage


@dataclass(frozen=True)
class FunnelStep:
    stage: str
    entered: int
    went_on: int
    next_stage: str | None
    median_days: float | None  # a completed stay in the stage, from entering it to the next move

    @property
    def label(self) -> str:
        return Stage(self.stage).label

    @property
    def next_label(self) -> str:
        return Stage(self.next_stage).label if self.next_stage else ""

    @property
    def conversion(self) -> float | None:
        """The share of the journeys that entered this stage and moved on to the next, in percent."""
        if self.next_stage is None or not self.entered:
            return None
        return round(100 * self.went_on / self.entered, 1)
