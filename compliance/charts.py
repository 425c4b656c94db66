"""Charts drawn on the server as SVG: no JavaScript, no CDN, readable by a screen reader.

Each builder is a pure function of plain values. Every piece of text that reaches the markup goes through
``django.utils.html.escape`` first, and only the finished string is marked safe.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date

from django.utils.dateformat import format as date_format
from django.utils.safestring import SafeString, mark_safe

from accounts.dates import day_month, day_month_year

SAGE = "#2f6f5e"
SAGE_LIGHT = "#9cc5b7"
AMBER = "#f2c57c"
INK = "#1f3b36"
MUTED = "#5c6f6b"
GRID = "#dfe7e4"
NONE_FILL = "#eef1f0"
NONE_STRIPE = "#c3ccc9"
FONT = 'font-family="system-ui, -apple-system, &quot;Segoe UI&quot;, sans-serif"'

WeekScore = tuple[date, float | None]


# What ``django.utils.html.escape`` replaces, by one ``str.translate``: a chart escapes hundreds of texts.
_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;"})


def _t(value) -> str:
    """``escape(value)`` as a plain string (a safe string escaped too, as ``escape`` does)."""
    return str(value).translate(_ESCAPES)


# "j M" and "j M Y" as dateformat writes them, without parsing the format for each of a heatmap's cells.
_week = day_month
_long_week = day_month_year


def _percent(score: float | None) -> str:
    return "no report" if score is None else f"{round(score)}%"


def _week_labels(weeks: Sequence[date], centres: Sequence[float], y: float) -> str:
    """The day of each week's Monday, with the month's name under it when the month changes; every
    other week only when there are many."""
    step = max(1, math.ceil(len(weeks) / 16))
    parts, month = [], None
    for index, (day, cx) in enumerate(zip(weeks, centres, strict=True)):
        if index % step:
            continue
        parts.append(f'<text x="{cx}" y="{y}" text-anchor="middle" fill="{MUTED}">{day.day}</text>')
        if (day.year, day.month) != month:
            month = (day.year, day.month)
            name = date_format(day, "M") if index and day.month != 1 else date_format(day, "M Y")
            parts.append(f'<text x="{cx}" y="{y + 11}" text-anchor="middle" fill="{MUTED}">{_t(name)}</text>')
    return "".join(parts)


def _open(*, width: int, height: int, label: str, title: str, desc: str, css_class: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
        f'class="{css_class}" role="img" aria-label="{_t(label)}" {FONT} font-size="10">'
        f"<title>{_t(title)}</title><desc>{_t(desc)}</desc>"
    )


def _nothing(*, title: str, message: str, css_class: str) -> SafeString:
    svg = _open(
        width=320, height=40, label=f"{title}: {message}", title=title, desc=message, css_class=css_class
    )
    svg += f'<text x="160" y="24" text-anchor="middle" fill="{MUTED}">{_t(message)}</text></svg>'
    return mark_safe(svg)  # noqa: S308 — every text above went through escape()


def weekly_adherence_svg(
    points: Sequence[WeekScore], *, threshold: float = 70, title: str = "Adherence by week"
) -> SafeString:
    """Bars 0–100% per week, left empty (marked "no report") for weeks without a report, with the
    clinic's threshold drawn across."""
    if not points:
        return _nothing(title=title, message="No weeks to show yet.", css_class="chart chart-weekly")
    slot, left, right, top, plot_h, bottom = 36, 44, 78, 18, 120, 30
    width, height = left + slot * len(points) + right, top + plot_h + bottom
    base = top + plot_h

    def y(score: float) -> float:
        return round(base - plot_h * max(0.0, min(100.0, score)) / 100, 1)

    reported = [score for _, score in points if score is not None]
    first, last = points[0][0], points[-1][0]
    summary = f"{title}, {len(points)} weeks from {_long_week(first)} to {_long_week(last)}: "
    if reported:
        latest = next(score for _, score in reversed(points) if score is not None)
        summary += (
            f"{len(reported)} week{'s' if len(reported) != 1 else ''} reported, latest {_percent(latest)}, "
            f"average {_percent(sum(reported) / len(reported))}"
        )
    else:
        summary += "no reports yet"
    gaps = len(points) - len(reported)
    if gaps and reported:
        summary += f", {gaps} week{'s' if gaps != 1 else ''} without a report"
    summary += f". Threshold {_percent(threshold)}."
    desc = "; ".join(f"Week of {_week(day)}: {_percent(score)}" for day, score in points) + "."

    parts = [
        _open(
            width=width, height=height, label=summary, title=title, desc=desc, css_class="chart chart-weekly"
        )
    ]
    parts.append('<g class="axis" aria-hidden="true">')
    for tick in (0, 25, 50, 75, 100):
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y(tick)}" y2="{y(tick)}" stroke="{GRID}" '
            f'stroke-width="1"/>'
        )
        if tick % 50 == 0:
            parts.append(
                f'<text x="{left - 4}" y="{y(tick) + 3}" text-anchor="end" fill="{MUTED}">{tick}%</text>'
            )
    parts.append(
        _week_labels(
            [day for day, _ in points], [left + slot * i + slot / 2 for i in range(len(points))], base + 13
        )
    )
    parts.append(f'<text x="{left - 4}" y="{base + 13}" text-anchor="end" fill="{MUTED}">Week of</text></g>')
    parts.append('<g class="weeks">')
    for index, (day, score) in enumerate(points):
        x = left + slot * index + 5
        tip = f"Week of {_long_week(day)}: {_percent(score)}"
        if score is None:
            parts.append(
                f'<g class="gap"><title>{_t(tip)}</title>'
                f'<rect x="{x}" y="{top}" width="{slot - 10}" height="{plot_h}" fill="none" stroke="{GRID}" '
                f'stroke-dasharray="3 3"/>'
                f'<text x="{x + (slot - 10) / 2}" y="{base - 4}" text-anchor="middle" fill="{MUTED}">–</text></g>'
            )
            continue
        bar_top = min(y(score), base - 2)  # a 0% week still shows: it was reported
        colour = SAGE if score >= threshold else AMBER
        parts.append(
            f'<g class="bar"><title>{_t(tip)}</title>'
            f'<rect x="{x}" y="{bar_top}" width="{slot - 10}" height="{round(base - bar_top, 1)}" '
            f'fill="{colour}" rx="2"/>'
            f'<text x="{x + (slot - 10) / 2}" y="{bar_top - 3}" text-anchor="middle" fill="{INK}">'
            f"{round(score)}</text></g>"
        )
    parts.append("</g>")
    ty = y(threshold)
    parts.append(
        f'<g class="threshold" aria-hidden="true"><line x1="{left}" x2="{width - right}" y1="{ty}" y2="{ty}" '
        f'stroke="{INK}" stroke-width="1.2" stroke-dasharray="5 3"/>'
        f'<text x="{width - right + 4}" y="{ty + 3}" fill="{INK}">{_t(_percent(threshold))} threshold</text></g>'
    )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 — every text above went through escape()


def _shorten(text: str, most: int = 26) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= most else text[: most - 1].rstrip() + "…"


def item_heatmap_svg(
    rows: Sequence[tuple[str, Sequence[WeekScore]]],
    *,
    threshold: float = 70,
    title: str = "Each plan item by week",
    pattern_id: str = "heatmap-no-report",
) -> SafeString:
    """A grid of plan items (rows) by week (columns), coloured by score; weeks with no report, or only
    "paused on purpose", are light grey and striped."""
    weeks = [day for day, _ in rows[0][1]] if rows else []
    if not weeks:
        return _nothing(title=title, message="No plan items to show yet.", css_class="chart chart-heatmap")
    pid = _t(pattern_id)
    cell, gap, left, top, legend_h = 30, 2, 176, 32, 30
    low = round(threshold / 2)
    legend = [
        (SAGE, f"{_percent(threshold)} or more"),
        (SAGE_LIGHT, f"{low}–{round(threshold) - 1}%"),
        (AMBER, f"under {low}%"),
        (f"url(#{pid})", "no report or paused"),
    ]
    legend_w = sum(30 + 6 * len(text) for _, text in legend)
    width = left + max((cell + gap) * len(weeks), legend_w) + 8
    height = top + (cell - 8 + gap) * len(rows) + legend_h + 6
    row_h = cell - 8

    summaries = []
    for item_title, scores in rows:
        reported = [s for _, s in scores if s is not None]
        if reported:
            summaries.append(
                f"{item_title}: average {_percent(sum(reported) / len(reported))} over "
                f"{len(reported)} reported week{'s' if len(reported) != 1 else ''}"
            )
        else:
            summaries.append(f"{item_title}: no reports")
    label = (
        f"{title}: {len(rows)} plan item{'s' if len(rows) != 1 else ''} over {len(weeks)} weeks from "
        f"{_long_week(weeks[0])} to {_long_week(weeks[-1])}."
    )
    parts = [
        _open(
            width=width,
            height=height,
            label=label,
            title=title,
            desc="; ".join(summaries) + ".",
            css_class="chart chart-heatmap",
        ),
        f'<defs><pattern id="{pid}" width="6" height="6" patternUnits="userSpaceOnUse" '
        f'patternTransform="rotate(45)"><rect width="6" height="6" fill="{NONE_FILL}"/>'
        f'<line x1="0" y1="0" x2="0" y2="6" stroke="{NONE_STRIPE}" stroke-width="2"/></pattern></defs>',
        '<g class="weeks" aria-hidden="true">',
    ]
    parts.append(_week_labels(weeks, [left + (cell + gap) * i + cell / 2 for i in range(len(weeks))], 11))
    parts.append(f'<text x="{left - 6}" y="11" text-anchor="end" fill="{MUTED}">Week of</text></g>')
    # A cell's tip is its row's title and its week's day, each escaped once (escaping is character by
    # character, so the escaped parts joined are the escaped whole): a heatmap has hundreds of cells.
    week_names: dict[date, str] = {}
    for row, (item_title, scores) in enumerate(rows):
        y = top + (row_h + gap) * row
        title_text = _t(item_title)
        parts.append(
            f'<g class="item"><title>{title_text}</title>'
            f'<text x="{left - 6}" y="{y + row_h / 2 + 4}" text-anchor="end" fill="{INK}">'
            f"{_t(_shorten(item_title))}</text>"
        )
        # One string a cell (a cell cost seven calls before): sage at or above the threshold, light sage from
        # half of it, amber below; striped where nothing was reported.
        for index, (day, score) in enumerate(scores):
            x = left + (cell + gap) * index
            week_name = week_names.get(day)
            if week_name is None:
                week_name = week_names[day] = _t(_long_week(day))
            if score is None:
                parts.append(
                    f'<g class="cell-none"><title>{title_text}, week of {week_name}: no report, or paused on '
                    f'purpose</title><rect x="{x}" y="{y}" width="{cell}" height="{row_h}" rx="2" '
                    f'fill="url(#{pid})"/></g>'
                )
                continue
            shown = round(score)
            if score >= threshold:
                fill, ink = SAGE, "#ffffff"
            elif score >= threshold / 2:
                fill, ink = SAGE_LIGHT, INK
            else:
                fill, ink = AMBER, INK
            parts.append(
                f'<g class="cell"><title>{title_text}, week of {week_name}: {shown}%</title>'
                f'<rect x="{x}" y="{y}" width="{cell}" height="{row_h}" rx="2" fill="{fill}"/>'
                f'<text x="{x + cell / 2}" y="{y + row_h / 2 + 3.5}" text-anchor="middle" fill="{ink}">'
                f"{shown}</text></g>"
            )
        parts.append("</g>")
    legend_y = top + (row_h + gap) * len(rows) + 12
    parts.append(f'<g class="legend" aria-hidden="true" transform="translate({left},{legend_y})">')
    x = 0
    for fill, text in legend:
        parts.append(
            f'<rect x="{x}" y="0" width="12" height="12" rx="2" fill="{fill}"/>'
            f'<text x="{x + 16}" y="10" fill="{MUTED}">{_t(text)}</text>'
        )
        x += 30 + 6 * len(text)
    parts.append("</g></svg>")
    return mark_safe("".join(parts))  # noqa: S308 — every text above went through escape()
