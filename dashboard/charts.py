"""Insights' charts, drawn on the server as SVG like ``compliance.charts``: no JavaScript, no CDN.

They are drawn 360 units wide with 12-unit text, so on a 390 px phone (where a card is about 330 px wide) the
text still reads at about 11 px, and CSS caps their width on a desktop. Each chart says what it shows in its
``aria-label``; the page puts a table of the same numbers beside it. Every text is escaped before the markup is
marked safe.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from django.utils.dateformat import format as date_format
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from compliance.charts import AMBER, FONT, GRID, INK, MUTED, SAGE, SAGE_LIGHT

WIDTH = 360
TEXT = 12
SMALL = 11


def _t(value) -> str:
    return str(escape(str(value)))


def _open(*, height: int, label: str, title: str, css_class: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" '
        f'height="{height}" class="chart chart-insight {css_class}" role="img" aria-label="{_t(label)}" {FONT} '
        f'font-size="{TEXT}"><title>{_t(title)}</title>'
    )


def _nothing(*, title: str, message: str, css_class: str) -> SafeString:
    svg = _open(height=36, label=f"{title}: {message}", title=title, css_class=css_class)
    svg += f'<text x="{WIDTH / 2}" y="22" text-anchor="middle" fill="{MUTED}">{_t(message)}</text></svg>'
    return mark_safe(svg)  # noqa: S308 — every text above went through escape()


@dataclass(frozen=True)
class Bar:
    """One row of a bar chart: its label above the bar, an optional note at the right of that line, and the
    value written after the bar. ``share`` is 0–1 of the longest bar."""

    label: str
    share: float
    value: str
    note: str = ""
    faint: bool = False


def bars_svg(bars: Sequence[Bar], *, title: str, summary: str, css_class: str, empty: str) -> SafeString:
    """Horizontal bars, one per row, each label on a line of its own above its bar: long labels need no
    room beside the bars, so the chart keeps its text size on a phone."""
    if not bars:
        return _nothing(title=title, message=empty, css_class=css_class)
    row, left, value_room = 38, 2, 58
    height = row * len(bars) + 4
    track = WIDTH - left - value_room
    parts = [_open(height=height, label=summary, title=title, css_class=css_class)]
    for index, bar in enumerate(bars):
        y = 2 + row * index
        share = max(0.0, min(1.0, bar.share))
        length = max(2.0, round(track * share, 1)) if share else 0
        fill = SAGE_LIGHT if bar.faint else SAGE
        parts.append(
            f'<g class="bar-row"><title>{_t(bar.label)}: {_t(bar.value)}{_t(" · " + bar.note) if bar.note else ""}</title>'
            f'<text x="{left}" y="{y + 13}" fill="{INK}">{_t(bar.label)}</text>'
        )
        if bar.note:
            parts.append(
                f'<text x="{WIDTH - 2}" y="{y + 13}" text-anchor="end" fill="{MUTED}" font-size="{SMALL}">'
                f"{_t(bar.note)}</text>"
            )
        parts.append(f'<rect x="{left}" y="{y + 19}" width="{track}" height="12" rx="2" fill="{GRID}"/>')
        if length:
            parts.append(f'<rect x="{left}" y="{y + 19}" width="{length}" height="12" rx="2" fill="{fill}"/>')
        parts.append(
            f'<text x="{left + track + 6}" y="{y + 29.5}" fill="{INK}" font-weight="600">{_t(bar.value)}</text></g>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 — every text above went through escape()


def _percent(score: float | None) -> str:
    return "no report" if score is None else f"{round(score)}%"


def weekly_svg(
    weeks: Sequence[tuple[date, float | None]], *, threshold: float, title: str = "Clinic adherence by week"
) -> SafeString:
    """A bar per week, 0–100%, amber below the clinic's threshold (drawn across); a week without reports is
    left as a dashed outline. Week labels thin out so they never crowd."""
    css_class = "chart-weekly-clinic"
    reported = [score for _, score in weeks if score is not None]
    if not weeks or not reported:
        return _nothing(title=title, message="No plan items reported in these weeks.", css_class=css_class)
    left, right, top, plot_h, bottom = 34, 6, 18, 120, 34
    height = top + plot_h + bottom
    base = top + plot_h
    slot = (WIDTH - left - right) / len(weeks)
    bar_w = round(max(2.0, slot * 0.7), 1)
    every = max(1, math.ceil(len(weeks) / 6))  # at most six week labels, about 50 units apart
    latest = next(score for _, score in reversed(weeks) if score is not None)
    summary = (
        f"{title}, {len(weeks)} weeks from {date_format(weeks[0][0], 'j M Y')} to "
        f"{date_format(weeks[-1][0], 'j M Y')}: latest {_percent(latest)}, average "
        f"{_percent(sum(reported) / len(reported))}, threshold {_percent(threshold)}."
    )

    def y(score: float) -> float:
        return round(base - plot_h * max(0.0, min(100.0, score)) / 100, 1)

    parts = [_open(height=height, label=summary, title=title, css_class=css_class), '<g aria-hidden="true">']
    for tick in (0, 50, 100):
        parts.append(
            f'<line x1="{left}" x2="{WIDTH - right}" y1="{y(tick)}" y2="{y(tick)}" stroke="{GRID}"/>'
        )
        parts.append(
            f'<text x="{left - 4}" y="{y(tick) + 4}" text-anchor="end" fill="{MUTED}" font-size="{SMALL}">'
            f"{tick}%</text>"
        )
    for index, (week, _) in enumerate(weeks):
        if index % every == 0:
            cx = round(left + slot * index + slot / 2, 1)
            parts.append(
                f'<text x="{cx}" y="{base + 15}" text-anchor="middle" fill="{MUTED}" font-size="{SMALL}">'
                f"{_t(date_format(week, 'j M'))}</text>"
            )
    parts.append(
        f'<text x="{left}" y="{base + 30}" fill="{MUTED}" font-size="{SMALL}">Week beginning</text></g>'
    )
    show_values = slot >= 26
    for index, (week, score) in enumerate(weeks):
        x = round(left + slot * index + (slot - bar_w) / 2, 1)
        tip = f"Week of {date_format(week, 'j M Y')}: {_percent(score)}"
        if score is None:
            parts.append(
                f'<g class="gap"><title>{_t(tip)}</title><rect x="{x}" y="{top}" width="{bar_w}" '
                f'height="{plot_h}" fill="none" stroke="{GRID}" stroke-dasharray="3 3"/></g>'
            )
            continue
        bar_top = min(y(score), base - 2)
        colour = SAGE if score >= threshold else AMBER
        parts.append(
            f'<g class="bar"><title>{_t(tip)}</title><rect x="{x}" y="{bar_top}" width="{bar_w}" '
            f'height="{round(base - bar_top, 1)}" rx="2" fill="{colour}"/>'
        )
        if show_values:
            parts.append(
                f'<text x="{round(x + bar_w / 2, 1)}" y="{bar_top - 4}" text-anchor="middle" fill="{INK}" '
                f'font-size="{SMALL}">{round(score)}</text>'
            )
        parts.append("</g>")
    ty = y(threshold)
    parts.append(
        f'<g aria-hidden="true"><line x1="{left}" x2="{WIDTH - right}" y1="{ty}" y2="{ty}" stroke="{INK}" '
        f'stroke-width="1.2" stroke-dasharray="5 3"/><text x="{WIDTH - right}" y="{top - 5}" text-anchor="end" '
        f'fill="{INK}" font-size="{SMALL}">- - threshold {_t(_percent(threshold))}</text></g></svg>'
    )
    return mark_safe("".join(parts))  # noqa: S308 — every text above went through escape()
