"""Insights' charts: well-formed SVG, drawn for a phone's width, every text escaped and never too small."""

import xml.etree.ElementTree as ET
from datetime import date, timedelta
from itertools import pairwise

import pytest

from dashboard.charts import WIDTH, Bar, bars_svg, weekly_svg

SVG = "{http://www.w3.org/2000/svg}"
WEEKS = [date(2026, 1, 5) + timedelta(weeks=n) for n in range(53)]


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # noqa: S314 — our own markup, parsed to prove it is well formed


def text_sizes(root: ET.Element) -> list[float]:
    default = float(root.get("font-size"))
    return [float(t.get("font-size") or default) for t in root.iter(f"{SVG}text")]


def test_bars_are_an_image_with_a_summary_each_label_on_its_own_line():
    root = parse(
        bars_svg(
            [Bar("Instructions unclear", 1.0, "4", note="most named"), Bar("Cost", 0.25, "1")],
            title="What gets in the way",
            summary="What gets in the way: Instructions unclear 4; Cost 1.",
            css_class="chart-barriers",
            empty="none",
        )
    )
    assert root.get("role") == "img" and root.get("aria-label").startswith(
        "What gets in the way: Instructions"
    )
    assert root.get("viewBox") == f"0 0 {WIDTH} 80"  # two rows of 38, and a margin
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert texts == ["Instructions unclear", "most named", "4", "Cost", "1"]
    tracks_and_bars = [float(r.get("width")) for r in root.iter(f"{SVG}rect")]
    full, quarter = tracks_and_bars[1], tracks_and_bars[3]
    assert quarter == pytest.approx(full / 4, abs=0.1)


def test_every_text_reads_at_11_units_or_more_on_a_360_wide_chart():
    bars = parse(
        bars_svg(
            [Bar("Email", 0.5, "50%", note="1 of 2 answered")],
            title="t",
            summary="s",
            css_class="c",
            empty="e",
        )
    )
    weekly = parse(weekly_svg([(week, 70.0) for week in WEEKS[:12]], threshold=70))
    for root in (bars, weekly):
        assert root.get("width") == str(WIDTH)
        assert min(text_sizes(root)) >= 11


@pytest.mark.parametrize("weeks", [4, 12, 26, 53])
def test_week_labels_thin_out_so_they_never_crowd(weeks):
    root = parse(weekly_svg([(week, 80.0) for week in WEEKS[:weeks]], threshold=70))
    labels = [
        t for t in root.iter(f"{SVG}text") if t.get("text-anchor") == "middle" and " " in (t.text or "")
    ]
    xs = [float(t.get("x")) for t in labels]
    assert len(labels) <= 7
    assert all(b - a >= 45 for a, b in pairwise(xs))


def test_a_week_without_reports_is_a_gap_and_low_weeks_are_amber():
    root = parse(weekly_svg([(WEEKS[0], 90.0), (WEEKS[1], None), (WEEKS[2], 40.0)], threshold=70))
    gaps = [g for g in root.iter(f"{SVG}g") if g.get("class") == "gap"]
    bars = [g for g in root.iter(f"{SVG}g") if g.get("class") == "bar"]
    assert len(gaps) == 1 and len(bars) == 2
    assert [b.find(f"{SVG}rect").get("fill") for b in bars] == ["#2f6f5e", "#f2c57c"]
    assert "latest 40%, average 65%, threshold 70%" in root.get("aria-label")


def test_text_is_escaped():
    svg = bars_svg(
        [Bar("<script>x()</script>", 1, "1")], title="t", summary='"><b>', css_class="c", empty="e"
    )
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    parse(svg)


def test_nothing_to_draw_says_so():
    root = parse(
        bars_svg([], title="Funnel", summary="", css_class="c", empty="No journey moved in these days.")
    )
    assert root.get("aria-label") == "Funnel: No journey moved in these days."
    assert "No plan items reported" in weekly_svg([(WEEKS[0], None)], threshold=70)
