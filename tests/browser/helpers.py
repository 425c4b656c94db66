"""Steps the browser flows share: signing in and out through the real pages, and keeping Celery out."""

import re
from pathlib import Path

from allauth.mfa.models import Authenticator
from django.conf import settings
from django.contrib.auth import get_user_model
from playwright.sync_api import Locator, Page, expect

from tests.factories import PASSWORD
from tests.support.signin import TEST_TOTP_SECRET, enrol, totp_code


def enter_password(page: Page, base_url: str, username: str) -> None:
    page.goto(base_url + "/accounts/sign-in/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def sign_in(page: Page, base_url: str, username: str) -> None:
    """Sign in through the sign-in page with the password and the authenticator app's code (the user's
    app is enrolled on the test key first if it is not yet), and land on Today."""
    user = get_user_model().objects.get(username=username)
    if not Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists():
        enrol(user)
    enter_password(page, base_url, username)
    expect(page.get_by_role("heading", name="Your second factor")).to_be_visible()
    page.get_by_label("Code").fill(totp_code(TEST_TOTP_SECRET))
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("heading", name="Today", level=1)).to_be_visible()


def sign_out(page: Page) -> None:
    page.get_by_role("navigation", name="Main navigation").get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()


def hold_deliveries(monkeypatch) -> list[int]:
    """Queue nothing on the broker: the test plays the worker (``nudge_dispatch_due``) when it wants.

    The live server runs in a thread of this process, so the patch holds for its requests too.
    Returns the ids the app asked to queue.
    """
    queued: list[int] = []

    def apply_async(args=None, kwargs=None, **options):  # Task.delay calls it too
        queued.append(args[0] if args else kwargs["nudge_id"])

    monkeypatch.setattr("nudges.tasks.deliver.apply_async", apply_async)
    return queued


def htmx_settled(target: Locator) -> None:
    """Wait until htmx has finished what it swapped into ``target``. The new content is on the page before its
    ``hx-`` attributes are live: htmx wires them when it settles (20 ms later, or more on a busy machine),
    and keeps ``htmx-settling`` on the target until then, so a change made in between triggers nothing.
    Call it once the swapped content is seen (before, the class is not there yet either)."""
    expect(target).not_to_have_class(re.compile(r"\bhtmx-(swapping|settling)\b"))


def open_tab(page: Page, title: str) -> None:
    """Open one tab of the patient page (htmx loads it) and wait until it is the one shown."""
    tabs = page.get_by_role("navigation", name="Sections of the record")
    link = tabs.get_by_role("link", name=title, exact=True)
    if link.get_attribute("aria-current") == "true":
        return  # already shown: clicking would load it again and race whatever the test types next
    link.click()
    # aria-current comes back with the server's answer (an out-of-band swap of the tabs), so the tab is in place
    expect(link).to_have_attribute("aria-current", "true")


def save_screenshot(page: Page, name: str) -> Path:
    """The whole page as a PNG under var/screenshots/, for a person to look at after the run."""
    path = Path(settings.VAR_DIR) / "screenshots" / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    return path


def page_size(page: Page) -> tuple[int, int]:
    """(scroll width, scroll height) of the document: wider than the viewport means a sideways scroll."""
    return page.evaluate("[document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
