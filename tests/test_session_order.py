"""Browser tests run last: after them, DJANGO_ALLOW_ASYNC_UNSAFE stays set and Playwright's loop keeps running."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def is_browser(item) -> bool:
    return item.get_closest_marker("browser") is not None


def test_a_test_that_is_no_browser_test_but_holds_their_session_parameter(browser_name):
    """pytest's fixture reordering pulls every test holding a session-scoped parameter next to the first one
    that holds it: this test sets that trap (a test whose own "page" parameter shadowed Playwright's fixture
    once did so by accident), so the check below proves the sort runs after the reordering."""
    assert browser_name == "chromium"


def test_in_this_session_no_other_test_comes_after_a_browser_test(request):
    """Checks the order of the very session it runs in: in a whole run (make test, CI), all of it."""
    items = request.session.items
    first_browser = next((i for i, item in enumerate(items) if is_browser(item)), len(items))
    after = [item.nodeid for item in items[first_browser:] if not is_browser(item)]
    assert not after, f"these run after a browser test: {after[:5]}"
    assert "DJANGO_ALLOW_ASYNC_UNSAFE" not in os.environ, "a browser test ran before this one"


def test_browser_tests_are_collected_last_whatever_reorders_them():
    """A session of its own, collected from testpaths as make test does (tests/browser/conftest.py is then
    registered during collection, not up front as when a browser file is named on the command line)."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "-k", "browser or session_order"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    ids = [line for line in result.stdout.splitlines() if "::" in line]
    browser = [i for i, nodeid in enumerate(ids) if nodeid.startswith("tests/browser/")]
    assert browser and len(browser) < len(ids), result.stdout
    assert browser == list(range(len(ids) - len(browser), len(ids))), "\n".join(ids)
