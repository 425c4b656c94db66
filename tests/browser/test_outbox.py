"""The outbox in real Chromium: what needs a person first, then what is to come soonest first, then the
history newest first; one line of each message's own words; a message on its own page; a card per message
on a phone. Screenshots go to var/screenshots/."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect

from nudges.models import Nudge
from tests.browser.helpers import hold_deliveries, page_size, save_screenshot, sign_in
from tests.factories import PatientFactory, UserFactory

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}


def nudge(patient, status, send_at, **fields):
    if status == "sent":
        fields.setdefault("sent_at", send_at)
        fields.setdefault("taken_at", send_at)
    return Nudge.objects.create(
        patient=patient,
        kind=fields.pop("kind", "checkin_request"),
        channel=fields.pop("channel", "email"),
        status=status,
        send_at=send_at,
        dedupe_key=f"browser:{Nudge.objects.count()}",
        **fields,
    )


@pytest.fixture
def outbox(transactional_db, monkeypatch):
    hold_deliveries(monkeypatch)
    UserFactory(username="charlie", display_name="Charlie Desk", role="staff")
    now = timezone.now()
    ana = PatientFactory(first_name="Ana", last_name="Silva")
    ben = PatientFactory(first_name="Ben", last_name="Okoro")
    rows = {
        "failed_old": nudge(ana, "failed", now - timedelta(days=6), last_error="mailbox full (552)"),
        "unknown_new": nudge(ben, "unknown", now - timedelta(days=1), last_error="no answer within 20 s"),
        "soon": nudge(ben, "pending", now + timedelta(hours=3), channel="sms"),
        "later": nudge(ana, "pending", now + timedelta(days=20)),
        "sent_old": nudge(
            ana,
            "sent",
            now - timedelta(days=14),
            subject="Your weekly check-in, Ana",
            body_text="Hi Ana, where did your plan fail you this week?\nhttps://crm.example/c/one/",
        ),
        "sent_new": nudge(
            ben,
            "sent",
            now - timedelta(days=2),
            subject="Your weekly check-in, Ben",
            body_text="Hi Ben, where did your plan fail you this week?",
        ),
    }
    for n in range(30):  # the farthest future used to come first: a long tail of requests to come
        nudge(ana, "pending", now + timedelta(days=30 + n))
    return rows


def row_ids(page: Page) -> list[str]:
    return page.locator("#outbox tbody tr").evaluate_all("rows => rows.map(r => r.id)")


def test_the_outbox_order(page: Page, live_server, outbox):
    sign_in(page, live_server.url, "charlie")
    page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="Messages").click()
    tabs = page.get_by_role("navigation", name="Parts of the outbox")

    # What needs a person comes first, the longest waiting first.
    expect(tabs.get_by_role("link", name="Needs a person")).to_have_attribute("aria-current", "true")
    assert row_ids(page) == [f"nudge-{outbox['failed_old'].pk}", f"nudge-{outbox['unknown_new'].pk}"]
    expect(page.locator(f"#nudge-{outbox['failed_old'].pk}")).to_contain_text("mailbox full (552)")
    save_screenshot(page, "outbox-needs")

    # Then what is still to go, the soonest first.
    tabs.get_by_role("link", name="Upcoming").click()
    ids = row_ids(page)
    assert ids[:2] == [f"nudge-{outbox['soon'].pk}", f"nudge-{outbox['later'].pk}"]
    assert len(ids) == 32
    soon = page.locator(f"#nudge-{outbox['soon'].pk}")
    expect(soon.locator(".outbox-line")).to_contain_text("Hi Ben, your 2-minute weekly check-in is ready.")
    later = page.locator(f"#nudge-{outbox['later'].pk}")
    expect(later.locator(".outbox-line")).to_have_text("Your weekly check-in, Ana")
    save_screenshot(page, "outbox-upcoming")

    # Then the history, the newest first, each row with its own words; a row opens its message.
    tabs.get_by_role("link", name="History").click()
    assert row_ids(page) == [f"nudge-{outbox['sent_new'].pk}", f"nudge-{outbox['sent_old'].pk}"]
    page.get_by_role("link", name="Your weekly check-in, Ana").click()
    expect(page.get_by_role("heading", name="What was sent")).to_be_visible()
    expect(page.locator("#message-subject")).to_have_text("Your weekly check-in, Ana")
    expect(page.locator("#message-text")).to_have_text(
        "Hi Ana, where did your plan fail you this week?\nhttps://crm.example/c/one/"
    )
    save_screenshot(page, "outbox-message")


def test_the_outbox_on_a_phone_is_a_card_per_message(browser: Browser, live_server, outbox):
    context = browser.new_context(viewport=PHONE, has_touch=True, is_mobile=True)
    page = context.new_page()
    sign_in(page, live_server.url, "charlie")
    page.goto(live_server.url + "/nudges/?view=upcoming")
    assert page_size(page)[0] == PHONE["width"], "the outbox scrolls sideways on a phone"
    rows = page.locator("#outbox tbody tr")
    expect(rows).to_have_count(32)
    heights = rows.evaluate_all("rows => rows.map(r => r.getBoundingClientRect().height)")
    assert max(heights) < 200, heights
    card = page.locator(f"#nudge-{outbox['soon'].pk}")
    expect(card.locator(".outbox-line")).to_be_visible()
    expect(card.locator(".badge")).to_have_text("Scheduled")
    save_screenshot(page, "outbox-phone")
    context.close()
