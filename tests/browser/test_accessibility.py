"""axe-core (vendored under tests/browser/vendor/, 4.14.1, MPL-2.0) in real Chromium over the pages a clinic
uses every day, on the demo clinic: no critical or serious violation on any of them, for staff and for a
practitioner, and on the patient's own pages (a check-in, the inquiry form)."""

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.urls import reverse

from compliance.models import Alert
from journeys.models import CheckIn
from journeys.tokens import checkin_token
from patients.models import Patient
from tests.browser.helpers import sign_in
from tests.factories import UserFactory

pytestmark = pytest.mark.browser

AXE = (Path(__file__).parent / "vendor" / "axe-core-4.14.1" / "axe.min.js").read_text()
SERIOUS = ("critical", "serious")


@pytest.fixture
def demo(transactional_db, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    call_command("seed_demo", stdout=StringIO())
    UserFactory(username="charlie", display_name="Charlie Desk", role="staff")
    UserFactory(username="bea", display_name="Dr. Bea Lane", role="practitioner")


def violations(page, url: str) -> list[str]:
    """What axe finds critical or serious on the page at ``url``, one line per rule with its first nodes.
    axe is evaluated through the browser's own debugging channel, which the page's CSP does not govern."""
    page.goto(url)
    page.wait_for_load_state("networkidle")
    page.evaluate(AXE)
    found = page.evaluate("async () => (await axe.run(document)).violations")
    return [
        f"{url}: {v['id']} ({v['impact']}) "
        + "; ".join(
            f"{n['target']} {(n['any'] or n['all'] or [{}])[0].get('message', '')}" for n in v["nodes"][:4]
        )
        for v in found
        if v["impact"] in SERIOUS
    ]


def staff_pages(base: str) -> list[str]:
    patient = Patient.objects.order_by("pk").first()
    alert = Alert.objects.order_by("pk").first()
    return [
        base + "/",
        base + "/schedule/",
        base + "/patients/",
        base + patient.get_absolute_url(),
        base + "/pipeline/",
        base + "/nudges/",
        base + "/insights/",
        base + reverse("compliance:alert", args=[alert.pk]),
    ]


@pytest.mark.parametrize("who", ["charlie", "bea"])
def test_the_clinics_pages_have_no_critical_or_serious_violation(page, live_server, demo, who):
    sign_in(page, live_server.url, who)
    found = [line for url in staff_pages(live_server.url) for line in violations(page, url)]
    assert found == []


def test_the_patients_own_pages_have_no_critical_or_serious_violation(page, live_server, demo):
    checkin = CheckIn.objects.filter(status=CheckIn.Status.SCHEDULED).order_by("due_on").first()
    urls = [
        live_server.url + reverse("compliance:checkin_answer", args=[checkin_token(checkin.pk)]),
        live_server.url + "/inquire/",
    ]
    found = [line for url in urls for line in violations(page, url)]
    assert found == []
