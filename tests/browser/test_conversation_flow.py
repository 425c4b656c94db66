"""A patient's text back, in real Chromium: the lead practitioner sees the unread conversation in the navigation and
the inbox, reads it on the patient's page, replies, and the reply waits in the outbox like any message."""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from journeys.models import Journey, Stage
from nudges.models import Nudge
from nudges.services import sms_inbound
from patients import services
from tests.browser.helpers import hold_deliveries, open_tab, save_screenshot, sign_in
from tests.factories import PatientFactory, UserFactory

pytestmark = pytest.mark.browser

STRUGGLING = "I'm struggling with the supplements this week"
REPLY = "Thank you for telling us. Let's make the plan lighter together: can we talk on Thursday?"


@pytest.fixture
def mara(transactional_db, monkeypatch):
    """Mara, in check-ins with Dr. Bob Moss, who has just texted the clinic."""
    hold_deliveries(monkeypatch)  # the reply waits in the outbox; the test looks at it there
    staff = UserFactory(username="charlie", display_name="Charlie Desk", role="staff")
    UserFactory(username="bob", display_name="Dr. Bob Moss", role="practitioner")
    patient = PatientFactory(
        first_name="Mara", last_name="Lind", phone="+13125550147", time_zone="America/New_York"
    )
    services.consent_record(patient=patient, channel="sms", granted=True, actor=staff, via="test")
    services.consent_record(patient=patient, channel="email", granted=True, actor=staff, via="test")
    services.care_team_set_lead(
        patient=patient, user=UserFactory._meta.model.objects.get(username="bob"), actor=staff
    )
    Journey.objects.create(patient=patient, stage=Stage.CHECK_INS)
    sms_inbound(from_number="+13125550147", body=STRUGGLING, provider_id="SMbrowser1")
    return patient


def test_the_lead_sees_the_unread_text_replies_and_the_reply_is_in_the_outbox(page, live_server, mara):
    sign_in(page, live_server.url, "bob")
    inbox_link = page.locator("#nav-inbox")
    expect(inbox_link).to_contain_text("1")  # the unread count, loaded after the page

    inbox_link.click()
    row = page.locator(f"#inbox-{mara.pk}")
    expect(row).to_contain_text("Mara")
    expect(row).to_contain_text("struggling with the supplements")
    row.get_by_role("link").first.click()

    open_tab(page, "Conversation")
    expect(page.get_by_text(STRUGGLING)).to_be_visible()
    form = page.locator("#conversation-reply-form")
    form.get_by_label("Your reply").fill(REPLY)
    form.get_by_role("button", name="Send reply").click()
    expect(page.locator(".alert").filter(has_text="Reply").first).to_contain_text("in the outbox")
    save_screenshot(page, "conversation-reply")

    reply = Nudge.objects.filter(patient=mara).order_by("-pk").first()
    assert reply is not None and reply.created_by.username == "bob"  # the reply, written by the lead
    assert reply.status in (Nudge.Status.PENDING, Nudge.Status.SENDING, Nudge.Status.SENT)
    page.goto(live_server.url + reverse("nudges:outbox") + "?view=all")
    expect(page.get_by_text("Mara", exact=False).first).to_be_visible()
    page.goto(live_server.url + reverse("nudges:detail", args=[reply.pk]))
    expect(page.get_by_text("make the plan lighter", exact=False).first).to_be_visible()

    page.goto(live_server.url + reverse("dashboard:inbox"))
    expect(page.locator("#nav-inbox .badge")).to_have_count(0)  # read now: nothing unread
