"""The patient page on a phone and on a desktop, in real Chromium: the summary fits, the tabs load on demand
(and work without JavaScript), the stage moves from the header. Screenshots go to var/screenshots/."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect

from compliance.models import Alert
from journeys.models import Journey, Program, Stage
from journeys.services.blueprints import blueprint_add_item, blueprint_publish, blueprint_start_draft
from journeys.services.stages import journey_move, journey_start
from journeys.services.visits import visit_schedule
from nudges.models import Nudge
from patients import services
from tests.browser.helpers import hold_deliveries, open_tab, page_size, save_screenshot, sign_in
from tests.compliance.conftest import week
from tests.factories import PatientFactory, UserFactory

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 768}
NAME = "Renée Côté"


@pytest.fixture
def renee(transactional_db, monkeypatch):
    """A patient at check-ins with a plan answered for six weeks, weekly check-in requests to come, a visit
    booked, and an open alert."""
    hold_deliveries(monkeypatch)
    staff = UserFactory(username="charlie", display_name="Charlie Desk", role="staff")
    bob = UserFactory(username="bob", display_name="Dr. Bob Moss", role="practitioner")
    patient = PatientFactory(first_name="Renée", last_name="Côté", email="renee@example.com")
    services.consent_record(patient=patient, channel="email", granted=True, actor=staff, via="test")
    services.care_team_set_lead(patient=patient, user=bob, actor=staff)
    journey = journey_start(patient=patient, actor=staff, program=Program.objects.create(name="Gut reset"))
    for stage in (Stage.DISCOVERY, Stage.INTAKE, Stage.COMMITMENT, Stage.BLUEPRINT):
        journey_move(journey=journey, to_stage=stage, actor=staff)
    draft = blueprint_start_draft(journey=journey, actor=bob)
    for kind, title in (("supplement", "Magnesium glycinate"), ("lifestyle", "Morning light walk")):
        blueprint_add_item(blueprint=draft, actor=bob, kind=kind, title=title)
    blueprint_publish(blueprint=draft, actor=bob)
    journey_move(journey=journey, to_stage=Stage.CHECK_INS, actor=staff)  # schedules the weekly requests
    today = timezone.localdate()
    for n in range(6, 0, -1):
        week(journey, today - timedelta(weeks=n, days=1), ["done", "partial" if n % 2 else "done"])
    visit_schedule(
        patient=patient,
        practitioner=bob,
        kind="follow_up",
        starts_at=timezone.now() + timedelta(days=3),
        actor=staff,
        journey=journey,
    )
    Alert.objects.create(patient=patient, journey=journey, reason="low_adherence", detail="45% over two")
    return patient


def test_the_patient_page_on_a_phone(browser: Browser, live_server, renee):
    context = browser.new_context(viewport=PHONE, has_touch=True, is_mobile=True)
    page = context.new_page()
    sign_in(page, live_server.url, "charlie")
    page.goto(f"{live_server.url}/patients/{renee.pk}/")
    expect(page.get_by_role("heading", name=NAME, level=1)).to_be_visible()

    summary = page.get_by_role("region", name=f"{NAME} at a glance")
    expect(summary.locator("#summary-stage")).to_contain_text("Check-ins")
    expect(summary.locator("#summary-stage")).to_contain_text("Step 6 of 8")
    expect(summary.locator("#summary-lead")).to_contain_text("Dr. Bob Moss")
    expect(summary.locator("#summary-adherence")).to_contain_text("%")
    expect(summary.locator("#summary-next-visit")).to_contain_text("Follow-up")
    expect(summary.locator("#summary-alert")).to_contain_text("Low adherence")
    expect(summary.locator("#summary-reach-email")).to_have_text("Email: yes")
    expect(page.locator("#panel-adherence")).to_be_visible()
    width, height = page_size(page)
    assert width == PHONE["width"], "the page scrolls sideways on a phone"
    assert height < 4000, height
    save_screenshot(page, "patient-phone")

    # A tab loads on demand: the page stays (htmx swaps the tab in), the address says which tab it is.
    page.evaluate("window.__stayed = true")
    with page.expect_request(lambda request: request.url.endswith(f"/patients/{renee.pk}/panels/messages/")):
        open_tab(page, "Messages")
    assert page.evaluate("window.__stayed === true")
    expect(page).to_have_url(f"{live_server.url}/patients/{renee.pk}/?tab=messages")
    requests = page.locator("#scheduled-requests")
    scheduled = Nudge.objects.filter(patient=renee, kind="checkin_request", status="pending").count()
    expect(requests).to_contain_text(f"{scheduled} weekly check-in requests scheduled, next")
    expect(page.locator("#panel-adherence")).to_have_count(0)
    assert page_size(page)[0] == PHONE["width"]
    save_screenshot(page, "patient-phone-messages")
    page.go_back()
    expect(page).to_have_url(f"{live_server.url}/patients/{renee.pk}/")
    expect(page.locator("#panel-adherence")).to_be_visible()

    # The stage moves from the header, and the page says so.
    page.get_by_text("Move stage…").click()
    form = page.get_by_role("form", name=f"Move {NAME}")
    form.get_by_label("Graduated", exact=True).check()
    form.get_by_role("button", name="Move", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text(f"{NAME} moved to Graduated.")
    expect(summary.locator("#summary-stage")).to_contain_text("Graduated")
    assert Journey.objects.get(patient=renee).stage == Stage.GRADUATED
    context.close()


def test_the_patient_page_on_a_desktop_and_without_javascript(browser: Browser, live_server, renee):
    for javascript in (True, False):
        context = browser.new_context(viewport=DESKTOP, java_script_enabled=javascript)
        page: Page = context.new_page()
        if javascript:
            sign_in(page, live_server.url, "bob")
        else:  # the sign-in page works without JavaScript too; the second factor's code is typed the same way
            sign_in(page, live_server.url, "charlie")
        page.goto(f"{live_server.url}/patients/{renee.pk}/")
        width, height = page_size(page)
        assert width == DESKTOP["width"]
        assert height < 2600, height
        if javascript:
            save_screenshot(page, "patient-desktop")
        # Without JavaScript each tab is a plain link to the page with that tab.
        open_tab(page, "Visits")
        expect(page).to_have_url(f"{live_server.url}/patients/{renee.pk}/?tab=visits")
        expect(page.locator("#upcoming-visits")).to_contain_text("Follow-up")
        context.close()
