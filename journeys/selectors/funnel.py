"""The journey funnel for Insights: along the path from inquiry to advocate, how many journeys entered each stage
in a period, how many of them went on to the next, and the median days a stay took. Two queries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..models import PATH, Stage, StageChange
from .pipeline import stage_conversion, stage_median_days


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


def journey_funnel(*, since: datetime, until: datetime) -> list[FunnelStep]:
    """The path's stages in order, over the moves made from ``since`` (inclusive) to ``until`` (exclusive)."""
    changes = StageChange.objects.filter(at__gte=since, at__lt=until)
    conversion = stage_conversion(changes)
    medians = stage_median_days(changes, until=until)
    return [
        FunnelStep(
            stage=stage,
            entered=conversion[stage][0],
            went_on=conversion[stage][1],
            next_stage=following,
            median_days=medians.get(stage),
        )
        for stage, following in zip(PATH, [*PATH[1:], None], strict=True)
    ]
