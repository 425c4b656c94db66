import xml.etree.ElementTree as ET
from datetime import date, timedelta

from compliance.charts import item_heatmap_svg, weekly_adherence_svg

SVG = "{http://www.w3.org/2000/svg}"
WEEKS = [date(2026, 11, 2) + timedelta(weeks=n) for n in range(12)]


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # noqa: S314 — our own markup, parsed to prove it is well formed


def groups(root: ET.Element, css_class: str) -> list[ET.Element]:
    return [g for g in root.iter(f"{SVG}g") if g.get("class") == css_class]


def test_the_weekly_chart_is_well_formed_svg_with_an_accessible_summary():
    scores = [80.0, 90.0, None, 60.0] + [75.0] * 8
    root = parse(weekly_adherence_svg(list(zip(WEEKS, scores, strict=True)), threshold=70))
    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img"
    label = root.get("aria-label")
    assert "11 weeks reported" in label
    assert "1 week without a report" in label
    assert "Threshold 70%" in label
    assert root.find(f"{SVG}title").text == "Adherence by week"
    assert "Week of 16 Nov: no report" in root.find(f"{SVG}desc").text


def test_a_week_without_a_report_is_a_gap_not_a_zero_bar():
    scores = [50.0, None, 0.0, None]
    root = parse(weekly_adherence_svg(list(zip(WEEKS[:4], scores, strict=True))))
    bars, gaps = groups(root, "bar"), groups(root, "gap")
    assert len(bars) == 2
    assert len(gaps) == 2
    assert [g.find(f"{SVG}title").text for g in gaps] == [
        "Week of 9 Nov 2026: no report",
        "Week of 23 Nov 2026: no report",
    ]
    # A reported 0% still draws a sliver, so it can be told apart from a gap.
    zero = bars[1].find(f"{SVG}rect")
    assert float(zero.get("height")) > 0


def test_bars_and_the_threshold_line_sit_on_the_same_scale():
    root = parse(weekly_adherence_svg([(WEEKS[0], 70.0)], threshold=70))
    bar = groups(root, "bar")[0].find(f"{SVG}rect")
    line = groups(root, "threshold")[0].find(f"{SVG}line")
    assert float(bar.get("y")) == float(line.get("y1"))
    assert "70% threshold" in "".join(groups(root, "threshold")[0].itertext())


def test_text_in_the_weekly_chart_is_escaped():
    svg = weekly_adherence_svg([(WEEKS[0], 50.0)], title="<script>alert('x')</script> & more")
    assert "<script>" not in svg
    root = parse(svg)
    assert root.find(f"{SVG}title").text == "<script>alert('x')</script> & more"
    assert root.get("aria-label").startswith("<script>")


def test_an_empty_weekly_chart_still_parses_and_says_so():
    root = parse(weekly_adherence_svg([]))
    assert "No weeks to show yet." in "".join(root.itertext())


def test_the_heat_map_is_a_grid_with_escaped_titles_and_striped_empty_cells():
    rows = [
        (
            "<script>alert(1)</script> & lemon water",
            [(w, None if i % 3 == 0 else 80.0) for i, w in enumerate(WEEKS)],
        ),
        ("Walk", [(w, 40.0) for w in WEEKS]),
    ]
    svg = item_heatmap_svg(rows, threshold=70, pattern_id="none-stripes")
    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg
    assert "&amp; lemon water" in svg
    root = parse(svg)
    assert root.get("role") == "img"
    assert "2 plan items over 12 weeks" in root.get("aria-label")
    items = groups(root, "item")
    assert [g.find(f"{SVG}title").text for g in items] == ["<script>alert(1)</script> & lemon water", "Walk"]
    empty = groups(root, "cell-none")
    assert len(empty) == 4
    assert {g.find(f"{SVG}rect").get("fill") for g in empty} == {"url(#none-stripes)"}
    assert root.find(f"{SVG}defs/{SVG}pattern").get("id") == "none-stripes"
    filled = groups(root, "cell")
    assert len(filled) == 20
    assert "Walk, week of 2 Nov 2026: 40%" in [g.find(f"{SVG}title").text for g in filled]


def test_the_heat_map_colours_by_score_against_the_threshold():
    rows = [("Magnesium", [(WEEKS[0], 100.0), (WEEKS[1], 50.0), (WEEKS[2], 10.0)])]
    root = parse(item_heatmap_svg(rows, threshold=70))
    fills = [g.find(f"{SVG}rect").get("fill") for g in groups(root, "cell")]
    assert len(set(fills)) == 3  # at or above, under, well under


def test_a_long_item_title_is_shortened_on_the_grid_but_whole_in_its_tooltip():
    title = "Two tablespoons of ground flaxseed with breakfast every day"
    root = parse(item_heatmap_svg([(title, [(WEEKS[0], 50.0)])]))
    item = groups(root, "item")[0]
    assert item.find(f"{SVG}title").text == title
    assert item.find(f"{SVG}text").text.endswith("…")


def test_an_empty_heat_map_still_parses_and_says_so():
    root = parse(item_heatmap_svg([]))
    assert "No plan items to show yet." in "".join(root.itertext())


def test_each_cells_tip_names_its_item_week_and_score_whatever_the_title_holds():
    hostile = ["<script>alert('x')</script>", 'O\'Brien & "Sons"', "Zoë — 1 > 2 &amp;"]
    scores = [None, 0.0, 33.3, 69.5, 100.0]
    rows = [(title, [(week, scores[n % len(scores)]) for n, week in enumerate(WEEKS)]) for title in hostile]
    root = parse(item_heatmap_svg(rows, threshold=70))
    tips = [
        g.find(f"{SVG}title").text for g in root.iter(f"{SVG}g") if g.get("class") in ("cell", "cell-none")
    ]
    expected = [
        f"{title}, week of {week.day} {week.strftime('%b')} {week.year}: "
        + ("no report, or paused on purpose" if score is None else f"{round(score)}%")
        for title, cells in rows
        for week, score in cells
    ]
    assert tips == expected
