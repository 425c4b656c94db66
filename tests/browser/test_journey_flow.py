"""A prospect's whole path in real Chromium: the public inquiry, the pipeline, an intake visit and its signed
note, the first published care plan, and the check-in requests the outbox then holds.

Every stage change (inquiry → discovery → intake → commitment → blueprint → check-ins) is made in the browser
with the pipeline card's htmx Move… form: five moves cost about a second in all, so none goes through
``journey_move`` directly.
"""

import re
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.utils import timezone
from playwright.sync_api import Page, expect

from journeys.models import CheckIn, Journey, Stage, Visit
from patients.models import Patient
from tests.browser.helpers import hold_deliveries, open_tab, sign_in, sign_out
from tests.factories import UserFactory

pytestmark = pytest.mark.browser

NAME = "Priya Raman"


@pytest.fixture
def team(transactional_db, monkeypatch):
    hold_deliveries(monkeypatch)  # the welcome, visit reminders and check-in requests wait in the outbox
    UserFactory(username="charlie", display_name="Charlie Desk", role="staff")
    UserFactory(username="bob", display_name="Dr. Bob Moss", role="practitioner")


def move_on_pipeline(page: Page, *, from_stage: str, to: str) -> None:
    """Open the pipeline, and move the patient's card one step with the card's htmx Move… form."""
    page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="Pipeline").click()
    expect(page).to_have_url(re.compile(r"/pipeline/$"))
    # The cards are on the page before htmx is: it wires the Move… buttons' hx-get once the page has loaded,
    # and a click before then does nothing (on a busy machine the form never came).
    page.wait_for_load_state()
    column = page.locator(f"#stage-{from_stage}")
    card = column.get_by_role("article").filter(has=page.get_by_role("link", name=NAME))
    expect(card).to_have_count(1)
    card.get_by_role("button", name="Move…").click()
    form = card.get_by_role("form", name=f"Move {NAME}")
    form.get_by_label(to, exact=True).check()
    form.get_by_role("button", name="Move", exact=True).click()

    expect(page.locator("#pipeline-messages")).to_contain_text(f"{NAME} moved to {to}.")
    expect(column.get_by_role("link", name=NAME)).to_have_count(0)
    expect(page.get_by_role("region", name=to, exact=True).get_by_role("link", name=NAME)).to_be_visible()


def open_patient(page: Page) -> None:
    page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="Patients").click()
    page.get_by_role("link", name=NAME).click()
    expect(page.get_by_role("heading", name=NAME, level=1)).to_be_visible()


def test_a_prospect_goes_from_the_inquiry_form_to_scheduled_check_ins(page: Page, live_server, team):
    # A prospect, not signed in, gets in touch.
    page.goto(live_server.url + "/inquire/")
    page.get_by_label("First name").fill("Priya")
    page.get_by_label("Last name").fill("Raman")
    page.get_by_label("Email", exact=True).fill("priya@example.com")
    page.get_by_label("What brings you to us?").fill("Years of fatigue that no one could explain.")
    page.get_by_label("Yes, you may email me").check()
    page.get_by_role("button", name="Send my message").click()
    expect(page.get_by_role("heading", name="Thank you for reaching out")).to_be_visible()
    expect(page).to_have_url(live_server.url + "/inquire/thanks/")

    # The front desk sees the card in Inquiry and moves it to Discovery call.
    sign_in(page, live_server.url, "charlie")
    move_on_pipeline(page, from_stage=Stage.INQUIRY, to="Discovery call")

    # …and books the intake visit from the patient's Visits panel: tomorrow at 10:00, clinic time.
    page.locator("#stage-discovery").get_by_role("link", name=NAME).click()
    expect(page.locator("#summary-stage")).to_contain_text("Discovery call")
    open_tab(page, "Visits")
    page.get_by_role("link", name="Book a visit").click()
    page.get_by_label("Kind of visit").select_option(label="Intake visit")
    page.get_by_label("Practitioner").select_option(label="Dr. Bob Moss")
    clinic_tz = ZoneInfo(settings.TIME_ZONE)
    tomorrow = timezone.localtime(timezone.now(), clinic_tz).date() + timedelta(days=1)
    starts = datetime.combine(tomorrow, time(10, 0))
    page.get_by_label("Starts at (clinic time").fill(starts.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="Book the visit").click()
    expect(page.get_by_role("heading", name="Intake visit with Dr. Bob Moss")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("Intake visit booked with Dr. Bob Moss")
    # The discovery call happened: the journey moves on to Intake.
    move_on_pipeline(page, from_stage=Stage.DISCOVERY, to="Intake")
    sign_out(page)

    # The practitioner opens the visit and writes the intake note, Listen-as-Diagnosis sections and all.
    sign_in(page, live_server.url, "bob")
    open_patient(page)
    open_tab(page, "Visits")
    page.locator("#upcoming-visits").get_by_role("link", name="Intake visit").click()
    page.get_by_role("link", name="Write a note").click()
    note_form = page.locator("#note-form")
    expect(note_form.get_by_role("group", name="Deep Reconnaissance")).to_be_visible()
    expect(note_form.get_by_label("Title")).to_have_value("Intake visit note")
    note_form.get_by_label("The patient's story, in their words").fill("Tired for years; told it was stress.")
    note_form.get_by_label("What they have tried").fill("Iron tablets, a gluten-free year, two specialists.")
    note_form.get_by_label("What they fear").fill("That this is just how life is now.")
    note_form.get_by_label("What they hope for").fill("To run with her kids again.")
    # The visit is tomorrow: the note can be saved, not signed.
    expect(note_form.get_by_role("button", name="Save and sign…")).to_have_count(0)
    note_form.get_by_role("button", name="Save", exact=True).click()

    note = page.locator("#note")
    expect(note.get_by_role("heading", name="Intake visit note")).to_contain_text("Not signed")
    expect(note.get_by_role("heading", name="The patient's story, in their words")).to_be_visible()
    expect(note).to_contain_text("To run with her kids again.")
    expect(note.get_by_role("link", name="Edit")).to_be_visible()
    expect(note).to_contain_text("Signable once the visit begins")
    expect(note.get_by_role("link", name="Sign…")).to_have_count(0)

    # The visit has taken place (the test moves its start to an hour ago): now the note is signed, in two steps.
    Visit.objects.filter(patient__last_name="Raman").update(starts_at=timezone.now() - timedelta(hours=1))
    page.reload()
    note.get_by_role("link", name="Sign…").click()
    expect(page.locator("#sign-locks")).to_contain_text("Signing locks this note.")
    page.get_by_role("button", name="Sign and lock the note").click()

    expect(page.get_by_role("alert")).to_contain_text("Note signed: it can no longer change.")
    expect(note.get_by_role("heading", name="Intake visit note")).to_contain_text("Signed")
    expect(note.get_by_role("link", name="Edit")).to_have_count(0)
    expect(note.get_by_role("link", name="Sign…")).to_have_count(0)
    expect(page.get_by_text("Add an addendum")).to_be_visible()

    # Intake is done and the commitment consult said yes: on to the Blueprint.
    move_on_pipeline(page, from_stage=Stage.INTAKE, to="Commitment consult")
    move_on_pipeline(page, from_stage=Stage.COMMITMENT, to="Blueprint")

    # The care plan: a first draft, one item, published as version 1.
    open_patient(page)
    page.locator("#panel-blueprint").get_by_role("link", name="Open the blueprint builder").click()
    expect(page.get_by_role("heading", name="The Strategic Blueprint")).to_be_visible()
    page.get_by_role("button", name="Start the first draft").click()
    draft = page.locator("#draft")
    expect(draft.get_by_role("heading", name="Draft · version 1")).to_be_visible()
    add_item = draft.locator("#add-item-form")
    add_item.get_by_label("Kind").select_option(label="Supplement")
    add_item.get_by_label("Title").fill("Magnesium glycinate")
    add_item.get_by_label("Dose").fill("200 mg")
    add_item.get_by_label("Frequency").fill("every evening")
    add_item.get_by_role("button", name="Add to the plan").click()
    expect(draft.get_by_role("status")).to_have_text("“Magnesium glycinate” was added.")
    expect(draft.locator("#draft-items")).to_contain_text("Magnesium glycinate")
    draft.get_by_role("button", name="Publish version 1").click()

    expect(page.get_by_role("alert")).to_contain_text(f"Version 1 is now {NAME}'s plan.")
    published = page.locator("#published")
    plan_heading = published.get_by_role("heading", name="The patient's plan · version 1")
    expect(plan_heading).to_contain_text("Published")
    expect(published).to_contain_text("Magnesium glycinate")
    expect(page.locator("#versions")).to_contain_text("Version 1")

    # From the patient's Journey panel to the pipeline, for the last move: Check-ins begin.
    open_patient(page)
    expect(page.locator("#blueprint-published")).to_contain_text("Version 1")
    open_tab(page, "Journey")
    page.locator("#panel-journey").get_by_role("link", name="Open the pipeline").click()
    move_on_pipeline(page, from_stage=Stage.BLUEPRINT, to="Check-ins")

    # The outbox now holds the check-in requests, scheduled at 10:00 on their days.
    page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="Messages").click()
    filters = page.get_by_role("search", name="Filter the outbox")
    filters.get_by_label("Kind").select_option(label="Check-in request")
    filters.get_by_role("button", name="Filter").click()
    rows = page.locator("#outbox tbody tr")
    journey = Journey.objects.get(patient=Patient.objects.get(email="priya@example.com"))
    assert journey.stage == Stage.CHECK_INS
    expected = CheckIn.objects.filter(journey=journey).count()
    assert expected > 0
    expect(rows).to_have_count(expected)
    first = rows.first
    expect(first.get_by_role("link", name=NAME)).to_be_visible()
    expect(first).to_contain_text("Check-in request by Email")
    expect(first.locator(".badge")).to_have_text("Scheduled")
    expect(first).to_contain_text("10:00")
