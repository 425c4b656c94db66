"""A new user's first steps with patients, in real Chromium: find, edit, change the lead, import a CSV."""

import re
from datetime import time

import pytest
from playwright.sync_api import Page, expect

from patients import services
from patients.models import Patient
from tests.browser.helpers import open_tab, sign_in
from tests.factories import PatientFactory, UserFactory

pytestmark = pytest.mark.browser


@pytest.fixture
def clinic(transactional_db):
    staff = UserFactory(username="charlie", display_name="Charlie Desk", role="staff")
    bob = UserFactory(username="bob", display_name="Dr. Bob Moss", role="practitioner")
    UserFactory(username="dana", display_name="Dr. Dana Lee", role="practitioner")
    UserFactory(username="alice", display_name="Alice Admin", role="admin")
    jose = PatientFactory(first_name="José", last_name="Núñez", email="jose@example.com")
    services.care_team_set_lead(patient=jose, user=bob, actor=staff)
    PatientFactory(first_name="Joanna", last_name="Smith", email="joanna@example.com")
    return jose


def test_staff_finds_a_patient_without_accents_edits_quiet_hours_and_changes_the_lead(
    page: Page, live_server, clinic
):
    sign_in(page, live_server.url, "charlie")
    page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="Patients").click()

    search = page.get_by_role("search", name="Find patients")
    search.get_by_label("Name, email or phone").fill("jose nun")
    search.get_by_role("button", name="Find").click()

    expect(page).to_have_url(re.compile(r"/patients/\?q=jose\+nun"))
    rows = page.locator("table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("Dr. Bob Moss")
    rows.get_by_role("link", name="José Núñez").click()

    expect(page.get_by_role("heading", name="José Núñez", level=1)).to_be_visible()
    open_tab(page, "Contact and team")
    expect(page.locator("#quiet-hours")).to_have_text("20:00–08:00 their time")

    page.get_by_role("link", name="Edit details").click()
    expect(page.get_by_role("heading", name="Edit José Núñez")).to_be_visible()
    page.get_by_label("Quiet hours start").fill("21:30")
    page.get_by_label("Quiet hours end").fill("07:00")
    page.get_by_role("button", name="Save changes").click()

    expect(page).to_have_url(f"{live_server.url}/patients/{clinic.pk}/?tab=contact#panel-contact")
    expect(page.get_by_role("alert")).to_contain_text("Saved.")
    expect(page.locator("#quiet-hours")).to_have_text("21:30–07:00 their time")

    page.get_by_text("Change lead practitioner").click()
    lead_form = page.locator("#change-lead-form")
    lead_form.get_by_label("New lead practitioner").select_option(label="Dr. Dana Lee")
    expect(lead_form.get_by_label("Keep the previous lead on the care team")).to_be_checked()
    lead_form.get_by_role("button", name="Change lead").click()

    expect(page.get_by_role("alert")).to_contain_text("Dr. Dana Lee now leads José Núñez's care.")
    expect(page.locator("#summary-lead")).to_contain_text("Dr. Dana Lee")
    team = page.locator("#care-team")
    expect(team.get_by_role("listitem").filter(has_text="Dr. Dana Lee")).to_contain_text("Lead")
    expect(team.get_by_role("listitem").filter(has_text="Dr. Bob Moss")).to_contain_text("Practitioner")

    clinic.refresh_from_db()
    assert (clinic.quiet_hours_start, clinic.quiet_hours_end) == (time(21, 30), time(7, 0))


CSV = (
    "first_name,last_name,email,time_zone,consent_email,lead\n"
    "Renée,Côté,renee@example.com,America/Chicago,yes,dana\n"
    "Kwame,Mensah,kwame@example.com,,no,\n"
).encode()


def test_admin_imports_a_csv_in_django_admin_and_sees_the_patients_in_the_list(
    page: Page, live_server, clinic
):
    sign_in(page, live_server.url, "alice")
    page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="Admin").click()
    page.get_by_role("rowheader", name="Patients", exact=True).get_by_role("link").click()
    page.get_by_role("link", name="Import from CSV").click()

    expect(page.get_by_role("heading", name="Import patients from a spreadsheet")).to_be_visible()
    page.get_by_label("CSV file").set_input_files(
        files=[{"name": "patients.csv", "mimeType": "text/csv", "buffer": CSV}]
    )
    dry_run = page.get_by_label("Dry run: check the file and save nothing")
    expect(dry_run).to_be_checked()
    dry_run.uncheck()
    page.get_by_role("button", name="Check and import").click()

    report = page.locator("#import-report")
    expect(report.get_by_role("heading", name="Import result")).to_be_visible()
    expect(report).to_contain_text("Imported 2 patients.")
    expect(report).to_contain_text("Rows in the file: 2 · patients created: 2 · rows with problems: 0")

    page.goto(live_server.url + "/patients/?q=renee")
    row = page.locator("table tbody tr")
    expect(row).to_have_count(1)
    expect(row.get_by_role("link", name="Renée Côté")).to_be_visible()
    expect(row).to_contain_text("Dr. Dana Lee")
    expect(row).to_contain_text("America/Chicago")
    expect(row.locator(".badge", has_text="Email")).to_be_visible()

    page.goto(live_server.url + "/patients/")
    expect(page.locator("table tbody tr")).to_have_count(4)
    assert Patient.objects.filter(email="kwame@example.com", created_by__username="alice").exists()
