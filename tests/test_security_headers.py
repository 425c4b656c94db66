"""Every page carries an enforced Content-Security-Policy with no unsafe-inline; signed-in and patient-link
pages are never cached; the browser is told to give pages no camera, microphone or location."""

import re
from pathlib import Path

import pytest

from journeys.services.stages import journey_start
from journeys.tokens import checkin_token
from nudges.tokens import unsubscribe_token
from tests.accounts.test_permissions import concrete, walk
from tests.factories import CareTeamMemberFactory, PatientFactory

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
# Emails are read in mail clients, where inline styles are the only styles that work; no page serves them.
EMAIL_TEMPLATES = {"nudges/email.html", "compliance/alert_lead_body.html"}
INLINE = re.compile(r"<script(?![^>]*\ssrc=)[^>]*>|<style\b|\sstyle=|\son[a-z]+=|javascript:|hx-on", re.I)


def every_get_url():
    from django.urls import get_resolver

    for route, _name in walk(get_resolver()):
        if "(?P" in route:
            continue
        yield concrete(route)


def assert_csp(response, url):
    policy = response.headers.get("Content-Security-Policy", "")
    assert policy, f"{url}: no Content-Security-Policy"
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy, url
    assert "frame-ancestors 'none'" in policy, url
    assert "script-src 'self'" in policy and "object-src 'none'" in policy, url
    assert response.headers.get("Referrer-Policy") == "same-origin", url
    assert "camera=()" in response.headers.get("Permissions-Policy", ""), url
    assert response.headers.get("X-Frame-Options") == "DENY", url


@pytest.fixture
def patient(practitioner):
    patient = PatientFactory()
    CareTeamMemberFactory(patient=patient, user=practitioner, role="lead")
    journey_start(patient=patient, actor=practitioner)
    return patient


@pytest.mark.django_db
def test_every_page_has_the_policy_for_an_anonymous_visitor(client):
    for url in [*every_get_url(), "/no-such-page/"]:
        assert_csp(client.get(url), url)


def test_every_page_has_the_policy_and_no_store_when_signed_in(client_for, admin_user, patient):
    client = client_for(admin_user)
    urls = [*every_get_url(), f"/patients/{patient.pk}/", "/admin/", "/admin/patients/patient/", "/nope/"]
    for url in urls:
        response = client.get(url)
        assert_csp(response, url)
        assert "no-store" in response.headers.get("Cache-Control", ""), url


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["checkin", "unsubscribe", "bad"])
def test_patient_link_pages_are_never_cached(client, kind, patient):
    if kind == "checkin":
        from journeys.models import CheckIn

        checkin = CheckIn.objects.create(
            journey=patient.journeys.get(), due_on="2026-01-01", closes_at="2026-01-03T00:00:00Z"
        )
        url = f"/c/{checkin_token(checkin.pk)}/"
    elif kind == "unsubscribe":
        url = f"/u/{unsubscribe_token(patient_id=patient.pk)}/"
    else:
        url = "/c/not-a-token/"
    response = client.get(url)
    assert "no-store" in response.headers.get("Cache-Control", ""), (url, response.status_code)
    assert_csp(response, url)


@pytest.mark.django_db
def test_a_public_page_for_anyone_may_be_cached_normally(client):
    assert "no-store" not in client.get("/inquire/thanks/").headers.get("Cache-Control", "")


def test_no_page_template_has_an_inline_script_style_or_handler():
    offenders = []
    for path in TEMPLATES.rglob("*.html"):
        name = path.relative_to(TEMPLATES).as_posix()
        if name in EMAIL_TEMPLATES:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if INLINE.search(line):
                offenders.append(f"{name}:{number}: {line.strip()}")
    assert offenders == []


def test_htmx_is_told_not_to_inject_its_indicator_styles(client, db):
    body = client.get("/accounts/sign-in/").content.decode()
    assert '"includeIndicatorStyles": false' in body
    assert '"allowEval": false' in body
