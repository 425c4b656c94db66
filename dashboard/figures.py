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

from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta

from django.conf import settings
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


_KEY_MARKER = "figures-key-918273645-marker"  # a key nothing else in the read spells
_SINCE_MARKER = datetime(2001, 2, 3, 4, 5, 6, 918_273, tzinfo=UTC)


def _stored_query(key: str, since: datetime):
    return Figures.objects.filter(key=key, computed_at__gte=since).order_by("pk")[:1]  # ``.first()``'s


@built_per_thread
def _stored_compiled() -> Compiled:
    """``_stored``'s read compiled once per thread (the pipeline and Insights read it on every request)."""
    return Compiled(_stored_query(_KEY_MARKER, _SINCE_MARKER), _KEY_MARKER, _SINCE_MARKER)


def _stored(key: str) -> Figures | None:
    """The summary's row of ``key`` if it is fresh: ``Figures.objects.filter(…).first()``, by its SQL."""
    rows = _stored_compiled().rows(key, _fresh_since(timezone.now()))
    return rows[0] if rows else None


def _stored_rows(*keys: str) -> dict[str, Figures]:
    """The summary's fresh rows of ``keys``, by key: one query."""
    fresh = Figures.objects.filter(key__in=keys, computed_at__gte=_fresh_since(timezone.now()))
    return {row.key: row for row in fresh}


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


def _range_figures(*, start: date, end: date, stored: Figures | None) -> RangeFigures:
    if stored is not None:
        return _decode_range(stored.data, as_of=stored.computed_at)
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


def _referrals(*, start: date, end: date, stored: Figures | None) -> tuple[int, int] | None:
    if stored is None:
        return None
    first, last = start.isoformat(), end.isoformat()
    patients = committed = 0
    for day, (n, of_them) in stored.data["days"].items():
        if first <= day <= last:  # ISO dates order as the days do
            patients += n
            committed += of_them
    return patients, committed


def pipeline_flow_stored() -> Flow | None:
    """The whole clinic's pipeline flow from the summary when fresh (one query), else None."""
    stored = _stored(PIPELINE_FLOW)
    if stored is None:
        return None
    data = stored.data
    return Flow(
        conversion={stage: (pair[0], pair[1]) for stage, pair in data["conversion"].items()},
        medians=data["medians"],
        as_of=stored.computed_at,
        counts=data.get("counts", {}),
        closed_all=data.get("closed_all", {}),
    )


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
