"""The main navigation, drawn once per look by ``{% main_navigation %}``: the same markup ``_navigation.html``
writes with the request's own values, the person's name and role escaped, each request's own CSRF token, and
nothing of one person or request kept for the next."""

import re

import pytest
from django.template.loader import render_to_string
from django.test import Client
from django.urls import reverse
from django.utils.html import escape
from django.utils.safestring import mark_safe

from compliance.models import Alert
from tests.factories import PatientFactory, UserFactory

pytestmark = pytest.mark.django_db

HOSTILE = '<script>alert("x")</script> & O\'Hara'


def navigation(body: str) -> str:
    found = re.search(r'<nav class="navbar[^>]*aria-label="Main navigation">.*?</nav>', body, re.S)
    assert found, "no main navigation on the page"
    return found.group(0)


def token_of(nav: str) -> str:
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', nav)
    assert found
    return found.group(1)


def drawn_directly(nav: str, *, user, section, url_name, alerts_label="", second_factor=True) -> str:
    """``_navigation.html`` drawn through the template engine with this request's values in place."""
    return render_to_string(
        "_navigation.html",
        {
            "section": section,
            "url_name": url_name,
            "is_staff": user.is_staff,
            "alerts_label": alerts_label,
            "second_factor_passed": second_factor,
            "user_name": str(user),
            "role_name": user.get_role_display(),
            "csrf_input": mark_safe(  # noqa: S308 — the token is escaped
                f'<input type="hidden" name="csrfmiddlewaretoken" value="{escape(token_of(nav))}">'
            ),
        },
    ).strip()


@pytest.mark.parametrize(
    ("role", "path", "section", "url_name"),
    [
        ("staff", "/", "dashboard", "today"),
        ("practitioner", "/schedule/", "dashboard", "schedule"),
        ("admin", "/patients/", "patients", "list"),
        ("admin", "/alerts/", "compliance", "alerts"),
        ("staff", "/nudges/", "nudges", "outbox"),
    ],
)
def test_the_navigation_is_what_its_template_writes_with_the_requests_values(
    client, role, path, section, url_name
):
    user = UserFactory(role=role, display_name=HOSTILE)
    client.force_login(user)
    for _ in range(2):  # drawn the first time, kept the second: the same either way
        nav = navigation(client.get(path).content.decode())
        assert nav == drawn_directly(nav, user=user, section=section, url_name=url_name)
    assert HOSTILE not in nav and escape(HOSTILE) in nav
    assert nav.count(' active"') == 1
    assert ('href="/admin/"' in nav) is (role == "admin")


def test_each_request_writes_its_own_name_role_and_token(client):
    first = UserFactory(role="staff", display_name="Charlie Desk")
    second = UserFactory(role="practitioner", display_name="Dr. Bob Moss")
    client.force_login(first)
    first_nav, again = (navigation(client.get("/").content.decode()) for _ in range(2))
    # {% csrf_token %} masks the token afresh each time it writes it: a kept token would be the same twice
    assert token_of(first_nav) != token_of(again)
    client.logout()
    client.force_login(second)
    second_nav = navigation(client.get("/").content.decode())
    assert "Charlie Desk" not in second_nav and "Staff" not in second_nav
    assert "Dr. Bob Moss" in second_nav and "Practitioner" in second_nav
    assert token_of(second_nav) not in (token_of(first_nav), token_of(again))


def test_the_posted_token_is_accepted():
    """The navigation's sign-out form carries a token the CSRF check takes (enforced, as in a browser)."""
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(UserFactory(role="staff"))
    nav = navigation(browser.get("/").content.decode())
    response = browser.post(reverse("accounts:logout"), {"csrfmiddlewaretoken": token_of(nav)})
    assert response.status_code in (302, 303)


def test_the_alerts_badge_follows_the_open_alerts(client):
    user = UserFactory(role="staff")
    client.force_login(user)
    assert 'id="nav-alerts">Alerts</a>' in navigation(client.get("/").content.decode())
    alerts = [
        Alert.objects.create(patient=PatientFactory(), reason="low_adherence", detail="50%") for _ in range(2)
    ]
    nav = navigation(client.get("/").content.decode())
    assert nav == drawn_directly(nav, user=user, section="dashboard", url_name="today", alerts_label="2")
    assert '>2<span class="visually-hidden"> open</span>' in nav
    Alert.objects.filter(pk__in=[a.pk for a in alerts]).delete()
    assert 'id="nav-alerts">Alerts</a>' in navigation(client.get("/").content.decode())
