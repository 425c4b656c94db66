import re

import pytest
from playwright.sync_api import Page, expect

from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.browser

NAV = ["Today", "Patients", "Pipeline", "Insights"]
SAGE = "rgb(47, 111, 94)"  # --alliance-sage, from static/css/alliance.css
INK = "rgb(31, 59, 54)"  # --alliance-ink


@pytest.fixture
def frontdesk(transactional_db):
    return UserFactory(username="frontdesk", display_name="Jordan Front Desk", role="staff")


def sign_in(page: Page, base_url: str, username: str) -> None:
    page.goto(base_url + "/accounts/sign-in/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Today", level=1)).to_be_visible()


def test_an_anonymous_visit_lands_on_the_sign_in_page(page: Page, live_server):
    page.goto(live_server.url + "/")

    expect(page).to_have_url(re.compile(r"/accounts/sign-in/\?next=/$"))
    expect(page.get_by_role("heading", name="Alliance CRM")).to_be_visible()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    expect(page.get_by_role("navigation", name="Main navigation")).to_have_count(0)


def test_signing_in_lands_on_today_with_the_main_navigation(page: Page, live_server, frontdesk):
    page.goto(live_server.url + "/")
    page.get_by_label("Username").fill("frontdesk")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

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
