"""Insights on the demo clinic, in real Chromium: every chart has data on a fresh demo, its numbers sit beside it,
its labels stay readable on a 390 px phone, a bad date range is refused kindly, and a table downloads as CSV.
Screenshots go to var/screenshots/."""

import csv
import io
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from playwright.sync_api import Page, expect

from tests.browser.helpers import sign_in
from tests.factories import UserFactory

pytestmark = pytest.mark.browser

SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
CHARTS = ("chart-funnel", "chart-weekly-clinic", "chart-channels", "chart-hours", "chart-barriers")


@pytest.fixture
def demo(transactional_db, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    call_command("seed_demo", stdout=StringIO())
    UserFactory(username="charlie", display_name="Charlie Desk", role="staff")


def smallest_text_px(page: Page, css_class: str) -> float:
    """The height on screen of the smallest text in a chart, in CSS pixels."""
    return page.evaluate(
        """(cls) => Math.min(...[...document.querySelectorAll(`svg.${cls} text`)]
            .map(t => t.getBoundingClientRect().height).filter(h => h > 0))""",
        css_class,
    )


def test_insights_fill_with_the_demo_clinics_data_and_read_on_a_phone(page: Page, live_server, demo):
    SHOTS.mkdir(parents=True, exist_ok=True)
    sign_in(page, live_server.url, "charlie")
    page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="Insights").click()
    expect(page.get_by_role("heading", name="Insights", level=1)).to_be_visible()

    # Every chart has data: no empty state anywhere on a fresh demo.
    body = page.locator("main")
    for empty in ("No check-in requests yet", "No barriers named yet", "No answered check-in requests yet",
                  "No journey moved", "No plan items reported"):  # fmt: skip
        expect(body).not_to_contain_text(empty)
    for chart in CHARTS:
        expect(page.locator(f"svg.{chart} rect").first).to_be_visible()
    # …each with its numbers beside it.
    expect(page.locator("#funnel-inquiry")).to_be_visible()
    expect(page.locator("#response-by-channel tbody tr")).to_have_count(2)
    expect(page.locator("#insights-barriers tbody tr").first).to_be_visible()
    page.set_viewport_size({"width": 1366, "height": 900})
    page.screenshot(path=str(SHOTS / "insights-demo-desktop.png"), full_page=True)

    # On a phone the charts shrink to the card, and their smallest text still reads at 10 px or more.
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    for chart in CHARTS:
        assert smallest_text_px(page, chart) >= 10, chart
    page.screenshot(path=str(SHOTS / "insights-demo-phone.png"), full_page=True)

    # A bad range is refused with a message, and the page still shows the default days.
    page.set_viewport_size({"width": 1366, "height": 900})
    form = page.get_by_role("form", name="Choose the days Insights shows")
    form.get_by_label("From").fill("2026-06-01")
    form.get_by_label("To").fill("2025-06-01")
    form.get_by_role("button", name="Show").click()
    expect(page.get_by_role("alert")).to_contain_text("“From” is after “To”")
    expect(page.locator("svg.chart-funnel rect").first).to_be_visible()

    # A quick range, then its funnel table as CSV.
    page.get_by_role("link", name="Last 13 weeks").click()
    expect(page.locator("#insights-range")).to_contain_text("91 days")
    with page.expect_download() as info:
        page.get_by_role("link", name="Download the funnel as CSV").click()
    saved = SHOTS.parent / "insights-funnel.csv"
    info.value.save_as(saved)
    rows = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8-sig"))))
    assert [row["stage"] for row in rows][:2] == ["Inquiry", "Discovery call"]
    assert int(rows[0]["entered"]) > 0
