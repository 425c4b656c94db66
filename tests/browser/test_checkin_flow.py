"""A patient answers their check-in on a phone, and their practitioner meets the answer, the chart, the alert
after poor weeks and its course correction, in real Chromium."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Browser, BrowserContext, Page, expect

from compliance.detection import detect_faltering
from compliance.models import Alert, CheckInAnswer
from compliance.services import checkin_answer_record
from journeys.models import CheckIn, Journey, Stage
from journeys.services.blueprints import blueprint_add_item, blueprint_publish, blueprint_start_draft
from journeys.services.checkins import closing_moment
from journeys.tokens import checkin_token
from patients import services
from tests.browser.helpers import hold_deliveries, sign_in
from tests.factories import PatientFactory, UserFactory

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
WORDS = "Travelled for work, the powders didn't fit in my bag."
PLAN = ["Magnesium glycinate", "Gluten-free kitchen", "Morning light walk"]


@pytest.fixture
def renee(transactional_db, monkeypatch):
    """A patient at check-ins with a three-item plan, led by Dr. Bob Moss; this week's check-in is open and
    next week's is scheduled."""
    hold_deliveries(monkeypatch)  # the outreach waits in the outbox
    staff = UserFactory(username="charlie", display_name="Charlie Desk", role="staff")
    bob = UserFactory(username="bob", display_name="Dr. Bob Moss", role="practitioner")
    patient = PatientFactory(
        first_name="Renée", last_name="Côté", email="renee@example.com", time_zone="America/New_York"
    )
    services.consent_record(patient=patient, channel="email", granted=True, actor=staff, via="test")
    services.care_team_set_lead(patient=patient, user=bob, actor=staff)
    journey = Journey.objects.create(patient=patient, stage=Stage.CHECK_INS)
    draft = blueprint_start_draft(journey=journey, actor=bob)
    for kind, title in zip(("supplement", "diet", "lifestyle"), PLAN, strict=True):
        blueprint_add_item(blueprint=draft, actor=bob, kind=kind, title=title)
    blueprint_publish(blueprint=draft, actor=bob)
    # The schedule only makes check-ins still to come; these two are written as the weeks around today.
    yesterday = timezone.localtime(timezone.now(), patient.tz).date() - timedelta(days=1)
    for due in (yesterday, yesterday + timedelta(days=7)):
        CheckIn.objects.create(journey=journey, due_on=due, closes_at=closing_moment(due, patient.tz))
    return patient


@pytest.fixture
def phone(browser: Browser) -> BrowserContext:
    """The patient's own phone: a small touch screen, no clinic session."""
    context = browser.new_context(viewport=PHONE, has_touch=True, is_mobile=True)
    yield context
    context.close()


def tap_answer(page: Page, group: str, answer: str) -> None:
    choices = page.get_by_role("group", name=group, exact=True)
    choices.get_by_text(answer, exact=True).tap()
    expect(choices.get_by_role("radio", name=answer, exact=True)).to_be_checked()


def test_a_check_in_answered_on_a_phone_reaches_the_practitioner_and_poor_weeks_meet_a_course_correction(
    page: Page, live_server, renee, phone: BrowserContext
):
    this_week, next_week = CheckIn.objects.filter(journey__patient=renee).order_by("due_on")
    link = live_server.url + reverse("compliance:checkin_answer", args=[checkin_token(this_week.pk)])

    # The patient opens the link from their email on a phone and answers with taps.
    mobile = phone.new_page()
    mobile.goto(link)
    expect(mobile.get_by_role("heading", name="Hi Renée, how was your week?")).to_be_visible()
    expect(mobile.get_by_text("Côté")).to_have_count(0)  # a first name at most for whoever holds the link
    tap_answer(mobile, "Magnesium glycinate", "Not this week")
    tap_answer(mobile, "Gluten-free kitchen", "Not this week")
    tap_answer(mobile, "Morning light walk", "Partly")
    mobile.get_by_label("Where did my plan fail you this week?").fill(WORDS)
    mobile.get_by_label("Life event").tap()
    expect(mobile.get_by_label("Life event")).to_be_checked()
    tap_answer(mobile, "Energy", "3")
    tap_answer(mobile, "Sleep", "5")
    assert mobile.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], "no sideways scrolling"
    mobile.get_by_role("button", name="Send my check-in").tap()

    expect(mobile.get_by_role("heading", name="Thank you, Renée")).to_be_visible()
    expect(mobile.get_by_text("Your check-in is with your care team.")).to_be_visible()
    answer = CheckInAnswer.objects.get(checkin=this_week)
    assert (answer.where_it_failed, answer.barriers, answer.energy, answer.sleep) == (
        WORDS,
        ["life_event"],
        3,
        5,
    )
    assert sorted(answer.logs.values_list("status", flat=True)) == ["missed", "missed", "partial"]

    # The practitioner signs in and finds the answer, in the patient's words, and this week on the chart.
    sign_in(page, live_server.url, "bob")
    page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="Patients").click()
    page.get_by_role("link", name="Renée Côté").click()
    adherence = page.locator("#panel-adherence")
    expect(adherence.locator("#latest-answers")).to_contain_text(WORDS)
    expect(adherence.locator("#latest-answers")).to_contain_text("Life event")
    expect(adherence.locator("#adherence-score")).to_have_text("17%")
    chart = adherence.locator("#adherence-weekly").get_by_role("img", name=re.compile(r"^Adherence by week"))
    expect(chart).to_be_visible()
    expect(page.locator("#panel-alerts")).to_contain_text("No open alerts")

    # A second hard week (answered through the service, to save a week), then the hourly falter detection.
    items = {item.title: item.pk for item in this_week.journey.blueprints.get().items.all()}
    checkin_answer_record(
        checkin=next_week,
        items_status={
            items["Magnesium glycinate"]: ("missed", ""),
            items["Gluten-free kitchen"]: ("missed", ""),
            items["Morning light walk"]: ("done", ""),
        },
        where_it_failed="Cooking gluten-free takes more evenings than I have.",
        barriers=["time"],
        ratings={},
    )
    assert [alert.reason for alert in detect_faltering()] == ["low_adherence"]
    page.reload()

    alerts = page.locator("#panel-alerts")
    expect(alerts.locator("#patient-alerts")).to_contain_text("25% over the last two check-ins")
    alerts.get_by_role("link", name="Low adherence").click()

    expect(
        page.get_by_role("heading", name=re.compile(r"^Low adherence: Renée Côté"), level=1)
    ).to_contain_text("Open")
    form = page.locator("#correction-form")
    form.get_by_role("radio", name="Plan simplified").check()
    form.get_by_label("In a sentence or two").fill(
        "Gluten-free waits until the walk and magnesium feel easy."
    )
    expect(form.get_by_label("This answers the alert: close it")).to_be_checked()
    form.get_by_role("button", name="Record the correction").click()

    expect(page.get_by_role("alert")).to_contain_text("Course correction recorded; the alert is closed.")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Answered")
    history = page.locator("#corrections")
    expect(history).to_contain_text("Plan simplified")
    expect(history).to_contain_text("Gluten-free waits until the walk and magnesium feel easy.")
    expect(history).to_contain_text("Dr. Bob Moss")
    expect(page.locator("#correction-form")).to_have_count(0)
    alert = Alert.objects.get()
    assert not alert.is_open and alert.resolved_by.username == "bob"

    page.get_by_role("link", name="Renée Côté").first.click()
    expect(page.locator("#panel-alerts")).to_contain_text("No open alerts")
    expect(page.locator("#patient-corrections")).to_contain_text("Plan simplified")
