"""The patient's intake questionnaire on a phone, in real Chromium: two sections, a pause, the same link on
another device, the agreements signed; then the practitioner meets the answers beside the intake note."""

import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Browser, BrowserContext, Page, expect

from journeys.models import AgreementSignature, Journey, QuestionnaireAnswer, QuestionnaireResponse, Stage
from journeys.services.visits import visit_schedule
from nudges.models import Kind, Nudge
from patients import services
from tests.browser.helpers import hold_deliveries, sign_in
from tests.factories import PatientFactory, UserFactory

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
STORY = "I have been exhausted since my second child was born, and my gut has never been the same."
TRIED = "Cutting out dairy for a month helped the bloating a little."


@pytest.fixture
def renee(transactional_db, monkeypatch):
    """Renée, between her discovery call and her intake visit with Dr. Bob Moss, booked in three days."""
    hold_deliveries(monkeypatch)  # the questionnaire's link waits in the outbox
    staff = UserFactory(username="charlie", display_name="Charlie Desk", role="staff")
    bob = UserFactory(username="bob", display_name="Dr. Bob Moss", role="practitioner")
    patient = PatientFactory(
        first_name="Renée", last_name="Côté", email="renee@example.com", time_zone="America/New_York"
    )
    services.consent_record(patient=patient, channel="email", granted=True, actor=staff, via="test")
    services.care_team_set_lead(patient=patient, user=bob, actor=staff)
    Journey.objects.create(patient=patient, stage=Stage.DISCOVERY)
    starts_at = (timezone.now() + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    visit_schedule(patient=patient, practitioner=bob, kind="intake", starts_at=starts_at, actor=staff)
    return patient


@pytest.fixture
def phones(browser: Browser):
    """Two phones of the patient's (a small touch screen, no clinic session), opened one after the other."""
    opened: list[BrowserContext] = []

    def open_phone() -> Page:
        context = browser.new_context(viewport=PHONE, has_touch=True, is_mobile=True)
        opened.append(context)
        return context.new_page()

    yield open_phone
    for context in opened:
        context.close()


def no_sideways_scroll(page: Page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], "no sideways scrolling"


def test_a_patient_fills_two_sections_comes_back_on_another_phone_submits_and_the_practitioner_reads_it(
    page: Page, live_server, renee, phones
):
    [link] = Nudge.objects.filter(patient=renee, kind=Kind.INTAKE_QUESTIONNAIRE)
    url = live_server.url + urlsplit(link.context["questionnaire_url"]).path

    # On her phone: the welcome, then the first two sections, one screen each, and a pause.
    mobile = phones()
    mobile.goto(url)
    expect(mobile.get_by_role("heading", name="Hi Renée, welcome")).to_be_visible()
    expect(mobile.get_by_text("Côté")).to_have_count(0)  # a first name at most for whoever holds the link
    no_sideways_scroll(mobile)
    mobile.get_by_role("link", name="Begin").tap()

    expect(mobile.get_by_role("heading", name="What brings you here")).to_be_visible()
    expect(mobile.get_by_text("Step 1 of 11")).to_be_visible()
    mobile.get_by_label("In your own words, what brings you to us?").fill(STORY)
    scale = mobile.get_by_role("radiogroup", name="How much does it affect your everyday life at the moment?")
    scale.get_by_text("7", exact=True).tap()
    no_sideways_scroll(mobile)
    mobile.get_by_role("button", name="Save and continue").tap()

    expect(mobile.get_by_role("heading", name="What you have tried")).to_be_visible()
    expect(mobile.get_by_text("Step 2 of 11")).to_be_visible()
    mobile.get_by_label("What have you tried so far, and how did it go?").fill(TRIED)
    mobile.get_by_role("button", name="Save and finish later").tap()
    expect(mobile.get_by_role("heading", name="All saved, Renée")).to_be_visible()
    mobile.context.close()
    response = QuestionnaireResponse.objects.get(patient=renee)
    assert response.sections_done == ["brings-you", "tried"]

    # Later, on another phone, with the same link: she carries on, skips ahead and signs.
    other = phones()
    other.goto(url)
    other.get_by_role("link", name="Carry on where I left off").tap()
    expect(other.get_by_role("heading", name="A timeline of your health")).to_be_visible()
    other.goto(url)
    expect(other.get_by_role("list", name="Sections").get_by_text("Saved")).to_have_count(2)
    other.get_by_role("link", name="Previous test results").tap()
    other.get_by_role("button", name="Save and go to the last step").tap()

    expect(other.get_by_role("heading", name="Last step: the clinic's agreements")).to_be_visible()
    for title in ("Financial policy", "Consent to care", "Communication"):
        other.get_by_label(f"I have read and agree to “{title}”").tap()
    other.get_by_label("Type your full name to sign").fill("Renée Côté")
    no_sideways_scroll(other)
    other.get_by_role("button", name="Sign and send my answers").tap()
    expect(other.get_by_role("heading", name="Thank you, Renée")).to_be_visible()

    response.refresh_from_db()
    assert response.status == QuestionnaireResponse.Status.COMPLETED
    assert QuestionnaireAnswer.objects.get(response=response, link_id="main-concern").value == STORY
    assert AgreementSignature.objects.filter(response=response, signed_name="Renée Côté").count() == 3
    other.goto(url)  # the link can no longer change it
    expect(other.get_by_role("heading", name="We already have your answers")).to_be_visible()

    # The practitioner opens the intake note and finds her story beside it, ready to copy in.
    sign_in(page, live_server.url, "bob")
    page.goto(live_server.url + reverse("journeys:note_create", args=[response.visit_id]))
    intake = page.get_by_role("complementary", name="The patient's intake questionnaire")
    expect(intake).to_contain_text(STORY)
    expect(intake).to_contain_text("7 out of 10")
    expect(intake).to_contain_text(TRIED)
    intake.get_by_role("button", name="Copy “What brings you here” into the note").click()
    expect(page.get_by_label("The patient's story, in their words")).to_have_value(
        re.compile(re.escape(STORY))
    )
    intake.get_by_role("button", name="Copy “What you have tried” into the note").click()
    expect(page.get_by_label("What they have tried")).to_have_value(re.compile(re.escape(TRIED)))
