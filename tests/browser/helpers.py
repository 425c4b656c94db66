"""Steps the browser flows share: signing in and out through the real pages, and keeping Celery out."""

from allauth.mfa.models import Authenticator
from django.contrib.auth import get_user_model
from playwright.sync_api import Page, expect

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
