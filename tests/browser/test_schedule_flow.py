"""The schedule and Today in real Chromium: the front desk books a visit from a free slot (the htmx panel, the
patient search, the check that refuses a clash before submitting), prints the day list, and a practitioner
opens on their own Today. Screenshots go to var/screenshots/."""

from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.utils import timezone
from playwright.sync_api import Page, expect

from compliance.models import Alert
from journeys.models import CheckIn, Journey, Stage, Visit, VisitNote, WorkingHours
from patients.models import CareTeamMember
from tests.browser.helpers import hold_deliveries, htmx_settled, sign_in
from tests.factories import PatientFactory, UserFactory

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def clinic_day(offset: int = 0):
    return timezone.localtime(timezone.now(), ZoneInfo(settings.TIME_ZONE)).date() + timedelta(days=offset)


def clinic_moment(day, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=ZoneInfo(settings.TIME_ZONE))


@pytest.fixture
def clinic(transactional_db, monkeypatch):
    hold_deliveries(monkeypatch)  # visit reminders wait in the outbox
    UserFactory(username="charlie", display_name="Charlie Desk", role="staff")
    bob = UserFactory(username="bob", display_name="Dr. Bob Moss", role="practitioner")
    dana = UserFactory(username="dana", display_name="Dr. Dana Lee", role="practitioner")
    for person in (bob, dana):
        for weekday in range(7):  # every day, so that tomorrow always has free times
            WorkingHours.objects.create(practitioner=person, weekday=weekday, starts=time(9), ends=time(17))
    return bob, dana


def test_the_front_desk_books_a_visit_from_a_free_slot(page: Page, live_server, clinic):
    bob, _ = clinic
    tomorrow = clinic_day(1)
    PatientFactory(first_name="Ana", last_name="Silva", time_zone="Europe/London")
    taken = PatientFactory(first_name="Ben", last_name="Okafor")
    Visit.objects.create(
        patient=taken,
        practitioner=bob,
        kind="follow_up",
        starts_at=clinic_moment(tomorrow, 9),
        duration_minutes=30,
    )
    page.set_viewport_size({"width": 1366, "height": 900})
    sign_in(page, live_server.url, "charlie")

    page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="Schedule").click()
    expect(page.get_by_role("heading", name="Schedule", level=1)).to_be_visible()
    filters = page.get_by_role("form", name="Choose the schedule")
    filters.get_by_label("Practitioner").select_option(label="Dr. Bob Moss")
    filters.get_by_label("Day").fill(tomorrow.isoformat())
    filters.get_by_role("button", name="Show").click()

    day = page.locator(f"#day-{bob.pk}")
    expect(day).to_contain_text("Ben Okafor")
    page.wait_for_load_state()  # htmx wires the slots' hx-get once the page has loaded: a click before follows href
    expect(day.get_by_role("link", name="Book 09:00 with Dr. Bob Moss")).to_have_count(0)  # taken
    day.get_by_role("link", name="Book 10:00 with Dr. Bob Moss").click()

    panel = page.locator("#booking-panel")
    form = panel.get_by_role("form", name="Book a visit")
    expect(form.get_by_label("Starts at (clinic time")).to_have_value(f"{tomorrow.isoformat()}T10:00")
    expect(panel.locator("#slot-check")).to_contain_text("Dr. Bob Moss is free on")
    # The form is on the page before htmx wires its check (hx-trigger="change"): a time changed in between
    # asked nothing, and the clash below never came (seen once on a loaded run).
    htmx_settled(panel)
    # Moved onto Ben's visit, the form says so before anything is submitted.
    form.get_by_label("Starts at (clinic time").fill(f"{tomorrow.isoformat()}T09:00")
    form.get_by_label("Length (minutes)").click()
    expect(panel.locator("#slot-check").get_by_role("alert")).to_contain_text(
        "Dr. Bob Moss is already booked for a follow-up"
    )
    form.get_by_label("Starts at (clinic time").fill(f"{tomorrow.isoformat()}T10:00")
    form.get_by_label("Length (minutes)").click()
    expect(panel.locator("#slot-check")).to_contain_text("is free on")

    form.get_by_label("Find a patient by name, email or phone").fill("silva")
    form.get_by_label("Ana Silva").check()
    expect(panel.locator("#slot-check")).to_contain_text("is free on")
    screenshot(page, "schedule-booking-panel")
    form.get_by_role("button", name="Book the visit").click()

    expect(page.get_by_role("alert").first).to_contain_text(
        "Follow-up booked for Ana Silva with Dr. Bob Moss"
    )
    expect(day).to_contain_text("Ana Silva")
    expect(day).to_contain_text("their time (Europe/London)")
    expect(day.get_by_role("link", name="Book 10:00 with Dr. Bob Moss")).to_have_count(0)
    visit = Visit.objects.get(patient__last_name="Silva")
    assert visit.starts_at == clinic_moment(tomorrow, 10) and visit.practitioner == bob
    screenshot(page, "schedule-day")

    page.emulate_media(media="print")
    expect(page.get_by_role("navigation", name="Main navigation")).to_be_hidden()
    expect(day.get_by_role("link", name="Book 10:30 with Dr. Bob Moss")).to_be_hidden()
    expect(day).to_contain_text("Ana Silva")
    screenshot(page, "schedule-day-print")
    page.emulate_media(media="screen")

    page.get_by_role("link", name="Week").click()
    expect(page.locator("#schedule-week")).to_contain_text("Ana Silva")
    screenshot(page, "schedule-week")


def test_booking_from_a_slot_works_without_javascript(browser, live_server, clinic):
    bob, _ = clinic
    tomorrow = clinic_day(1)
    PatientFactory(first_name="Ana", last_name="Silva")
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        sign_in(page, live_server.url, "charlie")
        page.goto(f"{live_server.url}/schedule/?practitioner={bob.pk}&day={tomorrow.isoformat()}")
        page.get_by_role("link", name="Book 11:00 with Dr. Bob Moss").click()
        expect(page.get_by_role("heading", name="Book a visit")).to_be_visible()
        page.get_by_label("Find a patient by name, email or phone").fill("ana")
        page.get_by_role("button", name="Find").click()
        page.get_by_label("Ana Silva").check()
        page.get_by_role("button", name="Book the visit").click()
        expect(page.get_by_role("alert").first).to_contain_text("Follow-up booked for Ana Silva")
        assert Visit.objects.get().starts_at == clinic_moment(tomorrow, 11)
    finally:
        context.close()


def test_a_practitioner_opens_on_their_own_today(page: Page, live_server, clinic):
    bob, dana = clinic
    today = clinic_day()
    mine = PatientFactory(first_name="Maya", last_name="Torres")
    CareTeamMember.objects.create(patient=mine, user=bob, role="lead")
    visit = Visit.objects.create(
        patient=mine, practitioner=bob, kind="follow_up", starts_at=clinic_moment(today, 12)
    )
    VisitNote.objects.create(visit=visit, author=bob, title="Follow-up note", body="Sleep is better.")
    Alert.objects.create(patient=mine, reason="missed_checkins", detail="Two check-ins in a row")
    journey = Journey.objects.create(patient=mine, stage=Stage.CHECK_INS)
    CheckIn.objects.create(
        journey=journey,
        due_on=today,
        closes_at=timezone.now() + timedelta(days=1),
        status=CheckIn.Status.ANSWERED,
        answered_at=timezone.now() - timedelta(hours=2),
    )
    theirs = PatientFactory(first_name="Omar", last_name="Haddad")
    Visit.objects.create(patient=theirs, practitioner=dana, kind="intake", starts_at=clinic_moment(today, 14))

    page.set_viewport_size({"width": 1366, "height": 900})
    sign_in(page, live_server.url, "bob")
    expect(page.get_by_role("link", name="My day")).to_have_attribute("aria-current", "page")
    visits = page.get_by_role("region", name="My visits today")
    expect(visits).to_contain_text("Maya Torres")
    expect(visits).not_to_contain_text("Omar Haddad")
    expect(page.get_by_role("region", name="Notes to sign")).to_contain_text("Follow-up note")
    expect(page.get_by_role("region", name="My patients who need attention")).to_contain_text(
        "Two check-ins in a row"
    )
    expect(page.get_by_role("region", name="Check-ins my patients answered since yesterday")).to_contain_text(
        "Maya Torres"
    )
    expect(page.locator("#nav-alerts")).to_contain_text("1")
    screenshot(page, "today-practitioner")

    page.get_by_role("link", name="Whole practice").click()
    expect(page.get_by_role("region", name="Visits today")).to_contain_text("Omar Haddad")
    screenshot(page, "today-practice")

    page.set_viewport_size({"width": 390, "height": 844})
    page.get_by_role("link", name="My day").click()
    expect(page.get_by_role("region", name="My visits today")).to_contain_text("Maya Torres")
    screenshot(page, "today-practitioner-phone")
