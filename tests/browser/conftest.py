"""Real Chromium through pytest-playwright, against pytest-django's ``live_server``.

Playwright launches the system Chromium (``apt-get install chromium``), so ``playwright install``
is never needed. Browser tests run after every other test (sorted by tests/conftest.py): Playwright's sync
API keeps an asyncio loop running in the main thread from the first browser test to the end of the
session, and Django refuses database calls while a loop runs unless ``DJANGO_ALLOW_ASYNC_UNSAFE`` is set.
"""

from pathlib import Path

import pytest

from tests.conftest import require

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-dev-shm-usage",
]
MARKER = "browser: drives real Chromium through Playwright (fails instead of skipping when CI is set)"


def pytest_configure(config):
    if not any(line.startswith("browser:") for line in config.getini("markers")):
        config.addinivalue_line("markers", MARKER)


@pytest.fixture(scope="session", autouse=True)
def _allow_django_under_playwright_loop():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        yield


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    require("Chromium", CHROMIUM.exists(), "apt-get install -y chromium")
    return {**browser_type_launch_args, "executable_path": str(CHROMIUM), "args": CHROMIUM_ARGS}
