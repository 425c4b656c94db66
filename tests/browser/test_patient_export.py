"""The patient list in real Chromium: a filter bar whose fields never overlap (desktop, tablet, phone), sorting by
a column header, and downloading the filtered list as CSV. Screenshots go to var/screenshots/."""

import csv
import io
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from accounts.models import AccessEvent
from journeys.models import Journey, Stage
from patients import services
from tests.browser.helpers import sign_in
from tests.factories import PatientFactory, UserFactory

pytestmark = pytest.mark.browser

SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
WIDTHS = {"desktop": (1366, 900), "tablet": (820, 1100), "phone": (390, 844)}


@pytest.fixture
def clinic(transactional_db):
    staff = UserFactory(username="charlie", display_name="Charlie Desk", role="staff")
    bob = UserFactory(username="bob", display_name="Dr. Bob Moss", role="practitioner")
    dana = UserFactory(username="dana", display_name="Dr. Dana Lee", role="practitioner")
    people = [
        ("Renée", "Côté", Stage.CHECK_INS, bob),
        ("José", "Núñez", Stage.INQUIRY, bob),
        ('=HYPERLINK("http://evil.invalid")', "Mallory", Stage.CHECK_INS, bob),
        ("Ana", "Silva", Stage.BLUEPRINT, dana),
        ("Lena", "Park", Stage.CHECK_INS, dana),
    ]
    for first, last, stage, lead in people:
        patient = PatientFactory(first_name=first, last_name=last, email=f"{last.lower()}@example.com")
        Journey.objects.create(patient=patient, stage=stage)
        services.care_team_set_lead(patient=patient, user=lead, actor=staff)
    return bob


def boxes_overlap(page: Page, selector: str) -> list[tuple[int, int]]:
    """Pairs of elements matching ``selector`` whose boxes overlap on screen."""
    boxes = [page.locator(selector).nth(i).bounding_box() for i in range(page.locator(selector).count())]
    overlapping = []
    for i, a in enumerate(boxes):
        for j, b in enumerate(boxes[i + 1 :], start=i + 1):
            across = a["x"] < b["x"] + b["width"] - 1 and b["x"] < a["x"] + a["width"] - 1
            down = a["y"] < b["y"] + b["height"] - 1 and b["y"] < a["y"] + a["height"] - 1
            if across and down:
                overlapping.append((i, j))
    return overlapping


def test_the_filtered_sorted_patient_list_downloads_as_csv(page: Page, live_server, clinic):
    SHOTS.mkdir(parents=True, exist_ok=True)
    sign_in(page, live_server.url, "charlie")
    page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="Patients").click()

    # The filter bar lays out without overlaps at every width (the Sort box used to cover Find).
    for name, (width, height) in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": height})
        assert (
            boxes_overlap(page, ".filter-fields > .filter-field, .filter-fields > .filter-actions") == []
        ), name
        page.screenshot(path=str(SHOTS / f"patients-list-{name}.png"), full_page=True)
    page.set_viewport_size({"width": 1366, "height": 900})

    # Stage is a column and a filter; the lead filter narrows it further.
    search = page.get_by_role("search", name="Find patients")
    search.get_by_label("Stage").select_option(label="Check-ins")
    search.get_by_label("Lead").select_option(label="Dr. Bob Moss")
    search.get_by_role("button", name="Find").click()
    rows = page.locator("#patient-table tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("Check-ins")

    # Sorting by a column header says so to assistive technology.
    page.locator("#sort-name").get_by_role("link").click()
    expect(page.locator("#sort-name")).to_have_attribute("aria-sort", "descending")
    expect(rows.first).to_contain_text("Mallory")
    page.screenshot(path=str(SHOTS / "patients-list-sorted.png"), full_page=True)

    with page.expect_download() as info:
        page.get_by_role("link", name="Download CSV").click()
    download = info.value
    saved = SHOTS.parent / "patients-download.csv"
    download.save_as(saved)
    assert download.suggested_filename.startswith("patients-") and download.suggested_filename.endswith(
        ".csv"
    )
    rows_out = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8-sig"))))
    assert [row["legal last name"] for row in rows_out] == ["Mallory", "Côté"]  # filtered and sorted as shown
    assert rows_out[0]["legal first name"] == '\'=HYPERLINK("http://evil.invalid")'  # never a formula
    assert {row["stage"] for row in rows_out} == {"Check-ins"}
    export = AccessEvent.objects.get(action="export")
    assert export.object_repr == "patient list CSV" and len(export.patient_ids) == 2
