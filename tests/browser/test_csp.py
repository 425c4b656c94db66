"""Real Chromium loads the pages under the enforced Content-Security-Policy and reports no violation:
every script, style and behaviour comes from our static files."""

import pytest
from playwright.sync_api import Page, expect

from journeys.services.stages import journey_start
from tests.browser.helpers import hold_deliveries, sign_in
from tests.factories import CareTeamMemberFactory, PatientFactory, UserFactory

pytestmark = pytest.mark.browser

WATCH = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(e.violatedDirective + " " + (e.blockedURI || "inline") + " " + (e.sample || ""));
});
"""


@pytest.fixture
def watched(page: Page):
    messages: list[str] = []
    page.on("console", lambda message: messages.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: messages.append(f"pageerror: {error}"))
    page.on(
        "response",
        lambda r: r.status >= 400 and "/static/" in r.url and messages.append(f"error: {r.status} {r.url}"),
    )
    page.add_init_script(WATCH)

    def violations() -> list[str]:
        seen = page.evaluate("window.__cspViolations || []")
        console = [m for m in messages if "Content Security Policy" in m or "Refused to" in m]
        # A page that answers 400 or 404 on purpose logs "Failed to load resource": not a violation.
        errors = [
            m
            for m in messages
            if m.startswith(("error:", "pageerror:")) and "Failed to load resource" not in m
        ]
        return seen + console + errors

    page.violations = violations
    return page


def test_public_pages_load_with_no_csp_violation(watched, live_server, transactional_db, monkeypatch):
    hold_deliveries(monkeypatch)
    page = watched
    for path in ("/accounts/sign-in/", "/inquire/", "/c/not-a-token/", "/u/not-a-token/"):
        page.goto(live_server.url + path)
        assert page.violations() == [], path
    page.goto(live_server.url + "/inquire/")
    page.get_by_label("First name").fill("Priya")
    page.get_by_label("Last name").fill("Raman")
    page.get_by_label("Email", exact=True).fill("priya@example.com")
    page.get_by_role("button", name="Send my message").click()
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    assert page.violations() == []


def test_signed_in_pages_and_htmx_load_with_no_csp_violation(
    watched, live_server, transactional_db, monkeypatch
):
    hold_deliveries(monkeypatch)
    staff = UserFactory(username="charlie", display_name="Charlie Desk", role="admin")
    lead = UserFactory(username="bob", display_name="Dr. Bob Moss", role="practitioner")
    patient = PatientFactory(first_name="Priya", last_name="Raman")
    CareTeamMemberFactory(patient=patient, user=lead, role="lead")
    journey_start(patient=patient, actor=staff)
    page = watched
    sign_in(page, live_server.url, "charlie")
    for path in ("/", "/patients/", f"/patients/{patient.pk}/", "/insights/", "/nudges/", "/admin/"):
        page.goto(live_server.url + path)
        assert page.violations() == [], path
    page.goto(live_server.url + "/pipeline/")
    card = page.locator("#stage-inquiry").get_by_role("article").first
    card.get_by_role("button", name="Move…").click()
    cancel = card.get_by_role("button", name="Cancel")
    expect(cancel).to_be_visible()
    cancel.click()
    expect(cancel).to_have_count(0)
    assert page.violations() == []


def test_the_email_wording_preview_is_styled_with_no_csp_violation(
    watched, live_server, transactional_db, monkeypatch
):
    """The preview frame (sandboxed, srcdoc) inherits the page's CSP: its styles come from a static file."""
    from nudges.models import MessageTemplate

    hold_deliveries(monkeypatch)
    UserFactory(username="charlie", display_name="Charlie Admin", role="admin")
    template, _ = MessageTemplate.objects.update_or_create(
        kind="checkin_request",
        channel="email",
        defaults={"subject": "Checking in, {{ first_name }}", "body": "Hi {{ first_name }},\n\nHow was it?"},
    )
    page = watched
    sign_in(page, live_server.url, "charlie")
    page.goto(f"{live_server.url}/admin/nudges/messagetemplate/{template.pk}/change/")
    frame = page.frame_locator("iframe.wording-preview-frame")
    expect(frame.get_by_text("How was it?")).to_be_visible()
    body = frame.locator("body")
    expect(body).to_have_css("background-color", "rgb(244, 248, 246)")
    expect(body).to_have_css("padding-top", "24px")
    expect(frame.get_by_role("link", name="Stop these messages")).to_have_css("color", "rgb(92, 111, 107)")
    page.wait_for_timeout(300)  # a refused style is reported a moment after the frame renders
    assert page.violations() == []


def test_the_two_factor_and_account_pages_load_with_no_csp_violation(
    watched, live_server, transactional_db, monkeypatch
):
    """allauth's own pages for a signed-in person: the second factor's overview, the app, the recovery codes,
    confirming who you are again, the password change — and enrolment at a first sign-in."""
    from tests.browser.helpers import enter_password

    hold_deliveries(monkeypatch)
    UserFactory(username="charlie", display_name="Charlie Desk", role="staff")
    UserFactory(username="newbie", display_name="New Colleague", role="staff")
    page = watched

    enter_password(page, live_server.url, "newbie")
    expect(page.get_by_role("heading", name="Set up your second factor")).to_be_visible()
    assert page.violations() == [], "enrolment"
    page.locator("#main").get_by_role("button", name="Sign out").click()

    sign_in(page, live_server.url, "charlie")
    for path in (
        "/accounts/2fa/",
        "/accounts/2fa/totp/deactivate/",
        "/accounts/2fa/recovery-codes/",
        "/accounts/2fa/recovery-codes/generate/",
        "/accounts/2fa/reauthenticate/",
        "/accounts/reauthenticate/",
        "/accounts/password/change/",
    ):
        response = page.goto(live_server.url + path)
        assert response.status == 200, path
        assert page.violations() == [], path
    expect(page.get_by_role("heading", name="Change Password")).to_be_visible()

    page.goto(live_server.url + "/accounts/2fa/totp/deactivate/")
    expect(page.get_by_role("heading", name="Your second factor stays on")).to_be_visible()
    expect(page.get_by_role("button", name="Deactivate")).to_have_count(0)
    page.goto(live_server.url + "/accounts/2fa/recovery-codes/generate/")
    page.get_by_role("button", name="Make new codes").click()
    expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    assert page.violations() == []
