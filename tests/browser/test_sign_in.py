import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.helpers import enter_password, sign_in
from tests.factories import PASSWORD, UserFactory
from tests.support.signin import enrol, totp_code

pytestmark = pytest.mark.browser

NAV = ["Today", "Patients", "Pipeline", "Insights"]
SAGE = "rgb(47, 111, 94)"  # --alliance-sage, from static/css/alliance.css
INK = "rgb(31, 59, 54)"  # --alliance-ink


@pytest.fixture
def frontdesk(transactional_db):
    return UserFactory(username="frontdesk", display_name="Jordan Front Desk", role="staff")


def test_an_anonymous_visit_lands_on_the_sign_in_page(page: Page, live_server):
    page.goto(live_server.url + "/")

    expect(page).to_have_url(re.compile(r"/accounts/sign-in/\?next=/$"))
    expect(page.get_by_role("heading", name="Alliance CRM")).to_be_visible()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    expect(page.get_by_role("navigation", name="Main navigation")).to_have_count(0)


def test_signing_in_lands_on_today_with_the_main_navigation(page: Page, live_server, frontdesk):
    enrol(frontdesk)
    page.goto(live_server.url + "/")
    page.get_by_label("Username").fill("frontdesk")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Your second factor")).to_be_visible()
    page.get_by_label("Code").fill(totp_code())
    page.get_by_role("button", name="Confirm").click()

    expect(page).to_have_url(live_server.url + "/")
    expect(page.get_by_role("heading", name="Today", level=1)).to_be_visible()
    nav = page.get_by_role("navigation", name="Main navigation")
    for name in NAV:
        expect(nav.get_by_role("link", name=name, exact=True)).to_be_visible()
    expect(nav.get_by_role("link", name="Today", exact=True)).to_have_class(re.compile(r"\bactive\b"))
    expect(nav).to_contain_text("Jordan Front Desk")


def test_the_page_is_styled_by_css_served_from_static(page: Page, live_server):
    responses = []
    page.on("response", lambda response: responses.append(response))
    page.goto(live_server.url + "/accounts/sign-in/")
    page.wait_for_load_state("load")

    stylesheets = {r.url: r.status for r in responses if r.request.resource_type == "stylesheet"}
    static = live_server.url + "/static/"
    assert stylesheets == {
        static + "vendor/bootstrap-5.3.9/bootstrap.min.css": 200,
        static + "css/alliance.css": 200,
    }
    # Bootstrap's .btn paints the colour that alliance.css sets: both files are in force.
    expect(page.get_by_role("button", name="Sign in")).to_have_css("background-color", SAGE)
    expect(page.locator(".sign-in-card")).to_have_css("display", "flex")


def test_on_a_phone_the_navigation_folds_into_a_menu_button(page: Page, live_server, frontdesk):
    page.set_viewport_size({"width": 375, "height": 812})
    sign_in(page, live_server.url, "frontdesk")

    nav = page.get_by_role("navigation", name="Main navigation")
    expect(nav).to_have_css("background-color", INK)
    toggler = nav.get_by_role("button", name="Toggle navigation")
    expect(toggler).to_be_visible()
    expect(nav.get_by_role("link", name="Patients", exact=True)).to_be_hidden()

    toggler.click()

    expect(toggler).to_have_attribute("aria-expanded", "true")
    for name in NAV:
        expect(nav.get_by_role("link", name=name, exact=True)).to_be_visible()


def test_on_a_desktop_the_navigation_shows_without_a_menu_button(page: Page, live_server, frontdesk):
    page.set_viewport_size({"width": 1280, "height": 800})
    sign_in(page, live_server.url, "frontdesk")

    nav = page.get_by_role("navigation", name="Main navigation")
    expect(nav.get_by_role("button", name="Toggle navigation")).to_be_hidden()
    expect(nav.get_by_role("link", name="Patients", exact=True)).to_be_visible()


def test_first_sign_in_enrols_an_authenticator_app_from_a_qr_code(page: Page, live_server, frontdesk):
    enter_password(page, live_server.url, "frontdesk")

    expect(page.get_by_role("heading", name="Set up your second factor")).to_be_visible()
    expect(page.get_by_role("img", name="QR code for your authenticator app").locator("svg")).to_be_visible()
    secret = page.get_by_label("Or type this key into the app").input_value()
    page.get_by_label("Authenticator code").fill(totp_code(secret))
    page.get_by_role("button", name="Turn on two-factor sign-in").click()

    expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    codes = page.locator("#recovery_codes").inner_text().split()
    assert len(codes) == 10
    page.get_by_role("link", name="Continue to Today").click()
    expect(page.get_by_role("heading", name="Today", level=1)).to_be_visible()


def test_a_minute_before_the_idle_sign_out_a_notice_offers_to_stay(
    page: Page, live_server, frontdesk, settings
):
    settings.SESSION_IDLE_TIMEOUT_SECONDS = 63  # the notice shows after 3 seconds
    sign_in(page, live_server.url, "frontdesk")

    notice = page.get_by_role("alertdialog")
    expect(notice).to_be_visible(timeout=10_000)
    expect(notice).to_contain_text("signed out in")
    with page.expect_response(lambda r: r.url.endswith("/accounts/keep-alive/")) as answered:
        notice.get_by_role("button", name="Stay signed in").click()
    assert answered.value.status == 200
    expect(notice).to_be_hidden()


def test_when_idle_time_is_up_the_page_goes_to_sign_in(page: Page, live_server, frontdesk, settings):
    settings.SESSION_IDLE_TIMEOUT_SECONDS = 3
    settings.SESSION_IDLE_WARNING_SECONDS = 2
    sign_in(page, live_server.url, "frontdesk")

    expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=15_000)
    expect(page.get_by_text("signed out after")).to_be_visible()
