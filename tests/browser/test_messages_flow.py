"""A one-off message from the Messages panel to the patient's inbox, and the patient's unsubscribe, in Chromium."""

import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.core import mail
from django.utils import timezone
from playwright.sync_api import Browser, BrowserContext, Page, expect

from nudges.models import Nudge
from nudges.services import nudge_dispatch_due
from patients import services
from tests.browser.helpers import hold_deliveries, sign_in
from tests.factories import PatientFactory, UserFactory

pytestmark = pytest.mark.browser

UNSUBSCRIBE_LINK = re.compile(r'href="(?P<url>[^"]+/u/[^"/]+/)"')


@pytest.fixture
def maya(transactional_db):
    staff = UserFactory(username="charlie", display_name="Charlie Desk", role="staff")
    lead = UserFactory(username="bob", display_name="Dr. Bob Moss", role="practitioner")
    patient = PatientFactory(
        first_name="Maya", last_name="Okafor", email="maya@example.com", time_zone="Asia/Tokyo"
    )
    # One quiet minute two hours from now, wherever the clock stands: the test's sends are never deferred.
    quiet = timezone.localtime(timezone.now(), patient.tz) + timedelta(hours=2)
    patient.quiet_hours_start = quiet.time().replace(second=0, microsecond=0)
    patient.quiet_hours_end = (quiet + timedelta(minutes=1)).time().replace(second=0, microsecond=0)
    patient.save()
    services.consent_record(patient=patient, channel="email", granted=True, actor=staff, via="test")
    services.care_team_set_lead(patient=patient, user=lead, actor=staff)
    return patient


def write_one_off(page: Page, subject: str, message: str) -> None:
    panel = page.locator("#panel-messages")
    panel.get_by_text("Write to Maya").click()
    form = panel.locator("#one-off-form")
    expect(form.get_by_label("Channel")).to_have_value("email")
    form.get_by_label("Subject").fill(subject)
    form.get_by_label("Message").fill(message)
    expect(form.get_by_label("Send at (Asia/Tokyo time)")).to_have_value("")
    form.get_by_role("button", name="Send").click()
    expect(page.get_by_role("alert")).to_contain_text("Message on its way. It appears under Messages.")


@pytest.fixture
def patient_browser(browser: Browser):
    """The patient's own browser: no clinic session."""
    context = browser.new_context()
    yield context
    context.close()


def test_a_one_off_message_is_sent_and_its_unsubscribe_link_holds_back_the_next(
    page: Page, live_server, maya, patient_browser: BrowserContext, monkeypatch
):
    queued = hold_deliveries(monkeypatch)
    mail.outbox.clear()
    sign_in(page, live_server.url, "charlie")
    page.goto(f"{live_server.url}/patients/{maya.pk}/?tab=messages")
    panel = page.locator("#panel-messages")
    expect(panel.locator("#reach-email")).to_contain_text("Email: yes")
    expect(panel).to_contain_text("No messages yet.")

    write_one_off(page, "Your lab results", "Your results are in and they look encouraging.")

    first = panel.locator("#patient-messages > li")
    expect(first).to_have_count(1)
    expect(first).to_contain_text("Scheduled")
    expect(first).to_contain_text("One-off message")
    expect(first).to_contain_text("written by Charlie Desk")
    assert len(queued) == 1  # the app asked the worker to send it; here the test is the worker

    report = nudge_dispatch_due()
    assert (report.sent, report.suppressed, report.deferred) == (1, 0, 0), str(report)
    page.reload()

    expect(first).to_have_count(1)
    expect(first.locator(".badge")).to_have_text("Sent")
    expect(first).to_contain_text("Your lab results")

    page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="Messages").click()
    expect(page.get_by_role("heading", name="Outbox", level=1)).to_be_visible()
    page.get_by_role("navigation", name="Parts of the outbox").get_by_role("link", name="History").click()
    row = page.locator("#outbox tbody tr").filter(has_text="Maya Okafor")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("One-off message by Email")
    expect(row.locator(".badge")).to_have_text("Sent")
    row.get_by_role("link", name="Your lab results").click()  # the row's line: the message's own subject
    expect(page.get_by_role("heading", name="What was sent")).to_be_visible()
    expect(page.locator("#message-text")).to_contain_text("Your results are in and they look encouraging.")

    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    assert email.to == ["maya@example.com"]
    assert email.subject == "Your lab results"
    assert "Your results are in and they look encouraging." in email.body
    html, mimetype = email.alternatives[0]
    assert mimetype == "text/html"
    # The text part carries no unsubscribe link: the HTML part's footer and the List-Unsubscribe header do.
    link = UNSUBSCRIBE_LINK.search(html)
    assert link, html
    url = link["url"]
    assert url.startswith(settings.ALLIANCE_SITE_URL + "/u/")
    assert email.extra_headers["List-Unsubscribe"] == f"<{url}>"
    assert email.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    # Staff write again; before the worker's next pass, the patient opens the link in their inbox.
    page.goto(f"{live_server.url}/patients/{maya.pk}/?tab=messages")
    write_one_off(page, "", "Just checking in: how are the new evening routines going?")
    second = panel.locator("#patient-messages > li").filter(has_text="evening routines")
    expect(second.locator(".badge")).to_have_text("Scheduled")

    with patient_browser.new_page() as inbox:
        # The link names the clinic's site (ALLIANCE_SITE_URL); live_server serves that site here.
        inbox.goto(live_server.url + url.removeprefix(settings.ALLIANCE_SITE_URL))
        expect(inbox.get_by_role("heading", name=re.compile(r"^Stop messages from "))).to_be_visible()
        expect(inbox.get_by_text("Hi Maya.")).to_be_visible()
        expect(inbox.get_by_text("Okafor")).to_have_count(0)
        inbox.get_by_role("button", name="Unsubscribe me").click()

        expect(inbox.get_by_role("heading", name="You're unsubscribed")).to_be_visible()
        expect(inbox.get_by_text("Thank you, Maya.")).to_be_visible()
    maya.refresh_from_db()
    assert maya.unsubscribed_at is not None

    report = nudge_dispatch_due()
    assert (report.sent, report.suppressed) == (0, 1), str(report)
    assert len(mail.outbox) == 1
    page.reload()

    expect(page.locator("#summary-reach-email")).to_have_text("Email: no")
    expect(second.locator(".badge")).to_have_text("Held back")
    expect(second).to_contain_text("patient unsubscribed")
    expect(panel.locator("#reach-email")).to_contain_text("Email: no")
    expect(panel.locator("#reach-email")).to_contain_text("(patient unsubscribed)")
    expect(panel.locator("#one-off-unreachable")).to_be_visible()
    assert Nudge.objects.get(pk=queued[1]).status_reason == "patient unsubscribed"
