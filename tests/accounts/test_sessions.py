"""Sessions: a new key at sign-in, an idle timeout with a way to stay, an absolute lifetime, sign-out that ends
the session, and switching a user off that ends every session they hold."""

from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.conf import settings as django_settings
from django.contrib.sessions.models import Session
from django.utils import timezone

from accounts.models import UserSession
from accounts.services import user_deactivate
from tests.factories import PASSWORD
from tests.support.signin import enrol, totp_code

ROOT = Path(__file__).resolve().parents[2]


def sign_in(client, username="charlie", secret=None):
    client.post("/accounts/sign-in/", {"login": username, "password": PASSWORD})
    response = client.post(
        "/accounts/2fa/authenticate/", {"code": totp_code(secret) if secret else totp_code()}
    )
    assert response.status_code == 302, response.content.decode()
    return client


def test_signing_in_gives_a_new_session_key(client, staff):
    enrol(staff)
    client.get("/accounts/sign-in/")
    client.session.save()
    before = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    client.post("/accounts/sign-in/", {"login": "charlie", "password": PASSWORD})
    after_password = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    client.post("/accounts/2fa/authenticate/", {"code": totp_code()})
    signed_in = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    assert len({before, signed_in}) == 2, "the key a visitor had before signing in is not kept"
    assert signed_in != after_password, "completing the second factor rotates the key again"
    assert not Session.objects.filter(session_key=before).exists()
    assert client.get("/").status_code == 200


def test_signing_out_ends_the_session_on_the_server(client, staff):
    enrol(staff)
    sign_in(client)
    key = client.session.session_key
    assert client.get("/").status_code == 200
    assert UserSession.objects.filter(session_key=key).exists()
    client.post("/accounts/sign-out/")
    assert not Session.objects.filter(session_key=key).exists()
    assert not UserSession.objects.filter(session_key=key).exists()
    assert client.get("/").status_code == 302


def test_a_session_idle_longer_than_the_timeout_is_signed_out_with_a_kind_word(client_for, staff):
    client = client_for(staff)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        assert client.get("/").status_code == 200
    with time_machine.travel(start + timedelta(minutes=14), tick=False):
        assert client.get("/").status_code == 200, "14 minutes idle is still inside the 15"
    with time_machine.travel(start + timedelta(minutes=14 + 16), tick=False):
        response = client.get("/patients/")
        assert response.status_code == 302
        assert response["Location"] == "/accounts/sign-in/?next=/patients/"
        page = client.get(response["Location"]).content.decode()
    assert "signed out after 15 minutes without activity" in page
    assert "_auth_user_id" not in client.session


def test_the_idle_timeout_comes_from_the_settings(client_for, staff, settings):
    settings.SESSION_IDLE_TIMEOUT_SECONDS = 120
    client = client_for(staff)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        client.get("/")
    with time_machine.travel(start + timedelta(minutes=3), tick=False):
        assert client.get("/").status_code == 302


def test_staying_signed_in_renews_the_idle_timer(client_for, staff):
    client = client_for(staff)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        client.get("/")
    with time_machine.travel(start + timedelta(minutes=14), tick=False):
        response = client.post("/accounts/keep-alive/")
        assert response.status_code == 200
        assert response.json() == {"idle_timeout_seconds": 900}
    with time_machine.travel(start + timedelta(minutes=28), tick=False):
        assert client.get("/").status_code == 200


def test_keep_alive_only_answers_a_post_of_a_signed_in_session(client, client_for, staff, db):
    response = client.post("/accounts/keep-alive/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/sign-in/")
    assert client_for(staff).get("/accounts/keep-alive/").status_code == 405


def test_a_session_ends_after_its_absolute_lifetime_however_active(client_for, staff):
    client = client_for(staff)
    start = timezone.now()
    for minutes in range(0, 10 * 60, 10):
        with time_machine.travel(start + timedelta(minutes=minutes), tick=False):
            assert client.get("/").status_code == 200, minutes
    with time_machine.travel(start + timedelta(hours=10, minutes=1), tick=False):
        response = client.get("/")
        assert response.status_code == 302 and response["Location"].startswith("/accounts/sign-in/")


def test_switching_a_user_off_in_admin_ends_their_open_session(client, client_for, admin_user, staff):
    from django.test import Client

    staff_client = client_for(staff)
    assert staff_client.get("/").status_code == 200
    staff_key = staff_client.session.session_key

    admin = Client()
    admin.force_login(admin_user)
    change = f"/admin/accounts/user/{staff.pk}/change/"
    form = admin.get(change).context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None and name != "password"}
    data.update(
        {
            "username": staff.username,
            "role": staff.role,
            "date_joined_0": staff.date_joined.strftime("%Y-%m-%d"),
            "date_joined_1": staff.date_joined.strftime("%H:%M:%S"),
        }
    )
    data.pop("is_active", None)  # an unticked box is left out of the post
    data.pop("date_joined", None)
    data.pop("last_login", None)
    response = admin.post(change, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    staff.refresh_from_db()
    assert not staff.is_active

    assert not Session.objects.filter(session_key=staff_key).exists()
    response = staff_client.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/sign-in/")


def test_switching_a_user_off_ends_every_session_they_hold(staff, admin_user):
    from django.test import Client

    phones = [Client(), Client()]
    for phone in phones:
        phone.force_login(staff)
        assert phone.get("/").status_code == 200
    assert UserSession.objects.filter(user=staff).count() == 2

    user_deactivate(actor=admin_user, user=staff)

    assert not UserSession.objects.filter(user=staff).exists()
    for phone in phones:
        assert phone.get("/").status_code == 302


@pytest.mark.django_db
def test_a_switched_off_user_is_refused_even_with_an_untracked_session(client_for, staff):
    client = client_for(staff)
    staff.is_active = False
    staff.save()
    assert client.get("/").status_code == 302


def test_signed_in_pages_carry_the_idle_notice_and_its_script_without_inline_code(client_for, staff):
    body = client_for(staff).get("/").content.decode()
    assert 'id="session-timeout"' in body
    assert 'data-idle-seconds="900"' in body and 'data-warning-seconds="60"' in body
    assert 'data-keep-alive-url="/accounts/keep-alive/"' in body
    assert '<script src="/static/js/session-timeout.js"></script>' in body
    assert (ROOT / "static" / "js" / "session-timeout.js").exists()


def test_the_sign_in_page_has_no_idle_notice(client, db):
    assert 'id="session-timeout"' not in client.get("/accounts/sign-in/").content.decode()
