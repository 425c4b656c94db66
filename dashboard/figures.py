"""Insights' and the pipeline's costly figures: counted for the view, or read from the summary that the
``dashboard.refresh_figures`` beat task rewrites every ``FIGURES_REFRESH_SECONDS``.

At a large clinic, a quarter of Insights reads hundreds of thousands of check-ins, answers and nudges, and the
pipeline's conversion and median days read a year of moves: cheap enough for a task, too costly for each view.
The task counts the ranges people open most (the clinic's adherence window and the quick ranges, all ending
today) and the pipeline's flow for the whole clinic, and stores them in ``Figures``; a view of one of those
reads a single row and says when it was counted. Any other range up to a year is summed from the daily
roll-ups the same task keeps (``dashboard.rollups``); a range whose days are not all counted, a narrowed
pipeline, or a summary older than twice the refresh period (beat not running) is counted for the view.
"""

from __future__ import annotations

import json
from bisect import bisect_left, bisect_right
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

from django.conf import settings
from django.db.models import TextField
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.queries import Compiled, built_per_thread
from compliance.models import ClinicSettings
from compliance.selectors import ClinicAdherence, Rate, ResponseRates, WeekAdherence
from journeys.selectors.advocates import referrals_by_day
from journeys.selectors.funnel import FunnelStep
from journeys.selectors.pipeline import Flow, pipeline_flow_with_counts

from . import rollups
from .forms import PRESETS
from .models import Figures

PIPELINE_FLOW = "pipeline:flow"
REFERRALS = "referrals:by-day"  # referred patients added each day, and how many reached commitment
# The quick ranges Insights offers (days ending today), besides the clinic's own adherence window.
PRESET_DAYS = tuple(days for days, _ in PRESETS)


@dataclass(frozen=True)
class RangeFigures:
    """Insights' figures for the days ``start`` to ``end``; ``as_of`` when they were counted, None when
    counted for this view."""

    adherence: ClinicAdherence
    weekly: list[WeekAdherence]
    responses: ResponseRates
    barriers: list[tuple[str, int]]
    funnel: list[FunnelStep]
    as_of: datetime | None = None


def range_figures_count(*, start: date, end: date, now: datetime | None = None) -> RangeFigures:
    """Count the figures of the days ``start`` to ``end`` (the clinic's days, both included) now, day by day as
    the roll-ups count them (``dashboard.rollups``), so both ways give the same figures."""
    return _range(rollups.figures_count(start=start, end=end, now=now or timezone.now()))


def _range(figures: rollups.RangeCounts, *, as_of: datetime | None = None) -> RangeFigures:
    return RangeFigures(
        adherence=figures.adherence,
        weekly=figures.weekly,
        responses=figures.responses,
        barriers=figures.barriers,
        funnel=figures.funnel,
        as_of=as_of,
    )


def _range_key(start: date, end: date) -> str:
    return f"insights:{start.isoformat()}:{end.isoformat()}"


def _fresh_since(now: datetime) -> datetime:
    return now - timedelta(seconds=2 * settings.FIGURES_REFRESH_SECONDS)


@dataclass(frozen=True)
class _Row:
    """A summary row as read: its key, when it was counted and its JSON as the database wrote it."""

    key: str
    computed_at: datetime
    text: str


# A row is rewritten with a new ``computed_at`` at each refresh, so the same few rows are read again and
# again between two: each is decoded once per text (its JSON, its dataclasses, its running sums) and kept,
# the least used dropped past this many. What is kept is shared by requests and never changed.
DECODED_KEPT = 64


@lru_cache(maxsize=DECODED_KEPT)
def _range_decoded(text: str, as_of: datetime) -> RangeFigures:
    return _decode_range(json.loads(text), as_of=as_of)


@lru_cache(maxsize=DECODED_KEPT)
def _referral_days(text: str) -> _ReferralDays:
    return _ReferralDays.of(json.loads(text))


@lru_cache(maxsize=8)
def _flow_decoded(text: str, as_of: datetime) -> Flow:
    data = json.loads(text)
    return Flow(
        conversion={stage: (pair[0], pair[1]) for stage, pair in data["conversion"].items()},
        medians=data["medians"],
        as_of=as_of,
        counts=data.get("counts", {}),
        closed_all=data.get("closed_all", {}),
    )


def decoded_clear() -> None:
    """Forget every summary row decoded (for a test that counts the decoding)."""
    for kept in (_range_decoded, _referral_days, _flow_decoded):
        kept.cache_clear()


_MARKED_SINCE = datetime(2000, 1, 1, 0, 0, 0, 1, tzinfo=UTC)
_MARKED_KEYS = ("\x00figures key 1", "\x00figures key 2")


def _fresh_read(count: int) -> Compiled:
    """The fresh rows of ``count`` keys, as (key, computed_at, JSON text): compiled once per thread."""
    keys = list(_MARKED_KEYS[:count])
    rows = Figures.objects.filter(key__in=keys, computed_at__gte=_MARKED_SINCE).values_list(
        "key", "computed_at", Cast("data", TextField())
    )
    return Compiled(rows, *keys, _MARKED_SINCE)


_fresh_reads = (
    built_per_thread(lambda: _fresh_read(1)),
    built_per_thread(lambda: _fresh_read(2)),
)


def _fresh(keys: tuple[str, ...]) -> list[_Row]:
    rows = _fresh_reads[len(keys) - 1]().rows(*keys, _fresh_since(timezone.now()))
    return [_Row(key, computed_at, text) for key, computed_at, text in rows]


def _stored(key: str) -> _Row | None:
    rows = _fresh((key,))
    return rows[0] if rows else None


def _stored_rows(first: str, second: str) -> dict[str, _Row]:
    """The summary's fresh rows of two keys, by key: one query."""
    return {row.key: row for row in _fresh((first, second))}


def range_figures(*, start: date, end: date) -> RangeFigures:
    """The figures of a range: from the summary when it holds them fresh (one query), else from the daily
    roll-ups when every day they need is counted (seven queries more, its whole months read from the month
    roll-ups), else counted now. ``as_of`` says when
    the oldest of the counts read was made."""
    return _range_figures(start=start, end=end, stored=_stored(_range_key(start, end)))


def insights_figures(*, start: date, end: date) -> tuple[RangeFigures, tuple[int, int] | None]:
    """``range_figures`` and ``referrals_stored`` of the same range, their two summary rows read by one query."""
    rows = _stored_rows(_range_key(start, end), REFERRALS)
    return (
        _range_figures(start=start, end=end, stored=rows.get(_range_key(start, end))),
        _referrals(start=start, end=end, stored=rows.get(REFERRALS)),
    )


def _range_figures(*, start: date, end: date, stored: _Row | None) -> RangeFigures:
    if stored is not None:
        return _range_decoded(stored.text, stored.computed_at)
    now = timezone.now()
    rolled = rollups.figures_stored(start=start, end=end, now=now)
    if rolled is not None:
        return _range(rolled[0], as_of=rolled[1])
    return range_figures_count(start=start, end=end, now=now)


def referrals_stored(*, start: date, end: date) -> tuple[int, int] | None:
    """The referred patients added from ``start`` to ``end`` (the clinic's days, both included) and how many
    of them reached commitment, from the summary when it holds them fresh (one query), else None. Whether a
    patient has committed changes any day after they were added, so the summary recounts every day of the
    roll-ups' span each time; read from it, a range costs the same at any size."""
    return _referrals(start=start, end=end, stored=_stored(REFERRALS))


@dataclass(frozen=True)
class _ReferralDays:
    """The summary's referral days in order, with running sums: any range's figures by two bisections."""

    days: list[str]  # ISO dates, which order as the days do
    patients: list[int]  # patients[i]: referred patients added on the days before days[i]
    committed: list[int]

    @classmethod
    def of(cls, data: dict) -> _ReferralDays:
        days, patients, committed = [], [0], [0]
        for day, (n, of_them) in sorted(data["days"].items()):
            days.append(day)
            patients.append(patients[-1] + n)
            committed.append(committed[-1] + of_them)
        return cls(days=days, patients=patients, committed=committed)

    def between(self, first: str, last: str) -> tuple[int, int]:
        lo, hi = bisect_left(self.days, first), bisect_right(self.days, last)
        if hi <= lo:
            return 0, 0
        return self.patients[hi] - self.patients[lo], self.committed[hi] - self.committed[lo]


def _referrals(*, start: date, end: date, stored: _Row | None) -> tuple[int, int] | None:
    if stored is None:
        return None
    return _referral_days(stored.text).between(start.isoformat(), end.isoformat())


def pipeline_flow_stored() -> Flow | None:
    """The whole clinic's pipeline flow from the summary when fresh (one query), else None."""
    stored = _stored(PIPELINE_FLOW)
    if stored is None:
        return None
    return _flow_decoded(stored.text, stored.computed_at)


def refreshed_ranges(today: date, *, window_days: int) -> list[tuple[date, date]]:
    """The ranges the summary holds: the clinic's adherence window and the quick ranges, ending today."""
    days = sorted({window_days, *PRESET_DAYS})
    return [(today - timedelta(days=n - 1), today) for n in days]


def figures_refresh(*, now: datetime | None = None) -> int:
    """Bring the daily roll-ups up to date (``rollups.rollups_refresh``), then count the pipeline's flow and
    the usual ranges — summed from the roll-ups just counted, or counted live where a day is missing (another
    refresh holds the lock) — replacing each one's row as soon as it is counted (a run cut short by the
    task's time limit still keeps what it counted); rows for days gone are removed. Returns how many summary
    rows were written."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    rollups.rollups_refresh(now=now)
    keys = [PIPELINE_FLOW, REFERRALS]
    _store(PIPELINE_FLOW, now, _encode_flow(pipeline_flow_with_counts(now=now)))
    first = today - timedelta(days=rollups.FILL_DAYS - 1)
    by_day = referrals_by_day(since=rollups.start_of(first), until=now, zone=rollups.clinic_zone())
    _store(REFERRALS, now, {"days": {day.isoformat(): list(pair) for day, pair in sorted(by_day.items())}})
    for start, end in refreshed_ranges(today, window_days=ClinicSettings.load().window_days):
        keys.append(_range_key(start, end))
        rolled = rollups.figures_stored(start=start, end=end, now=now)
        counted = rolled[0] if rolled is not None else rollups.figures_count(start=start, end=end, now=now)
        _store(keys[-1], now, _encode_range(_range(counted)))
    Figures.objects.exclude(key__in=keys).delete()
    return len(keys)


def _store(key: str, now: datetime, data: dict) -> None:
    Figures.objects.update_or_create(key=key, defaults={"computed_at": now, "data": data})


# --- The summary's rows as JSON ------------------------------------------------------------------------


def _encode_flow(flow: Flow) -> dict:
    return {
        "conversion": {str(k): list(v) for k, v in flow.conversion.items()},
        "medians": flow.medians,
        "counts": flow.counts,
        "closed_all": flow.closed_all,
    }


def _encode_range(figures: RangeFigures) -> dict:
    responses = asdict(figures.responses)
    wait = figures.responses.median_to_answer
    responses["median_to_answer"] = None if wait is None else wait.total_seconds()
    return {
        "adherence": asdict(figures.adherence),
        "weekly": [asdict(week) for week in figures.weekly],
        "responses": responses,
        "barriers": [list(pair) for pair in figures.barriers],
        "funnel": [asdict(step) for step in figures.funnel],
    }


def _datetime(value: str) -> datetime:
    parsed = parse_datetime(value)
    if parsed is None:
        raise ValueError(f"not a date and time: {value!r}")
    return parsed


def _decode_range(data: dict, *, as_of: datetime) -> RangeFigures:
    adherence = data["adherence"]
    responses = data["responses"]
    wait = responses["median_to_answer"]
    return RangeFigures(
        adherence=ClinicAdherence(
            **adherence
            | {
                "window_start": date.fromisoformat(adherence["window_start"]),
                "window_end": date.fromisoformat(adherence["window_end"]),
            }
        ),
        weekly=[
            WeekAdherence(**week | {"week": date.fromisoformat(week["week"])}) for week in data["weekly"]
        ],
        responses=ResponseRates(
            since=_datetime(responses["since"]),
            until=_datetime(responses["until"]),
            by_channel=[Rate(**rate) for rate in responses["by_channel"]],
            by_hour=[Rate(**rate) for rate in responses["by_hour"]],
            median_to_answer=None if wait is None else timedelta(seconds=wait),
            sent=responses["sent"],
            answered=responses["answered"],
        ),
        barriers=[(label, count) for label, count in data["barriers"]],
        funnel=[FunnelStep(**step) for step in data["funnel"]],
        as_of=as_of,
    )
