"""Two factors for everyone who signs in: enrolment at first sign-in, codes at every later one, recovery
codes, an admin reset for a lost device, and no page at all for a session that proved a password only."""

import re

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from django.urls import get_resolver

from accounts.middleware import SecondFactorMiddleware
from accounts.models import AccessEvent, UserSession
from tests.accounts.test_permissions import app_routes, concrete, walk
from tests.factories import PASSWORD, UserFactory
from tests.support.signin import TEST_TOTP_SECRET, enrol, totp_code

ENROL = "/accounts/2fa/totp/activate/"
CODE = "/accounts/2fa/authenticate/"
REAUTH = "/accounts/2fa/reauthenticate/"


def sign_in_with_password(client, username="charlie"):
    return client.post("/accounts/sign-in/", {"login": username, "password": PASSWORD})


def guarded_routes():
    """Every signed-in page, Django admin's included, but the few a password-only session may open."""
    for param in [*app_routes(), *admin_routes()]:
        if param.id not in SecondFactorMiddleware.OPEN_TO_PASSWORD_ONLY:
            yield param


def admin_routes():
    for route, name in walk(get_resolver()):
        if route.startswith("admin/") and "(?P" not in route and name != "admin:login":
            yield pytest.param(concrete(route), id=name or route)


# --- Password-only sessions get no page ---------------------------------------------------------------


@pytest.mark.parametrize("url", list(guarded_routes()))
def test_a_password_only_session_without_an_app_is_sent_to_enrolment_from_every_page(
    password_only_client, admin_user, url
):
    response = password_only_client(admin_user).get(url)
    assert response.status_code == 302, url
    assert response["Location"].startswith(ENROL + "?next="), (url, response["Location"])


@pytest.mark.parametrize("url", list(guarded_routes()))
def test_a_password_only_session_with_an_app_is_asked_for_a_code_on_every_page(
    password_only_client, admin_user, url
):
    enrol(admin_user)
    response = password_only_client(admin_user).get(url)
    assert response.status_code == 302, url
    assert response["Location"].startswith(REAUTH + "?next="), (url, response["Location"])


def test_an_htmx_request_of_a_password_only_session_is_told_to_load_enrolment_whole(
    password_only_client, staff
):
    response = password_only_client(staff).get("/patients/", HTTP_HX_REQUEST="true")
    assert response.status_code == 204
    assert response["HX-Redirect"].startswith(ENROL)


def test_the_route_walk_covers_django_admin():
    urls = {p.values[0] for p in admin_routes()}
    assert {"/admin/", "/admin/accounts/user/", "/admin/accounts/accessevent/"} <= urls


def test_django_admin_has_no_sign_in_form_of_its_own(client, db):
    response = client.get("/admin/login/?next=/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/sign-in/?next=")


def test_the_dashboard_opens_once_the_code_is_given(password_only_client, staff):
    enrol(staff)
    client = password_only_client(staff)
    assert client.get("/")["Location"] == REAUTH + "?next=%2F"
    response = client.post(REAUTH + "?next=/", {"code": totp_code(), "next": "/"})
    assert response["Location"] == "/"
    assert client.get("/").status_code == 200


# --- Sign-in with an enrolled app -----------------------------------------------------------------------


def test_an_enrolled_user_is_not_signed_in_by_the_password_alone(client, staff):
    enrol(staff)
    response = sign_in_with_password(client)
    assert response["Location"] == CODE
    assert "_auth_user_id" not in client.session
    assert client.get("/")["Location"].startswith("/accounts/sign-in/")


def test_a_wrong_code_is_refused_with_a_clear_message(client, staff):
    enrol(staff)
    sign_in_with_password(client)
    response = client.post(CODE, {"code": "000000" if totp_code() != "000000" else "111111"})
    assert response.status_code == 200
    assert "Incorrect code" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_a_code_is_accepted_once_only(client, staff):
    enrol(staff)
    code = totp_code()
    sign_in_with_password(client)
    assert client.post(CODE, {"code": code})["Location"] == "/"
    client.post("/accounts/sign-out/")
    sign_in_with_password(client)
    response = client.post(CODE, {"code": code})
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def test_a_recovery_code_signs_in_once_instead_of_the_app(client, staff):
    enrol(staff)
    codes = RecoveryCodes(Authenticator.objects.get(user=staff, type="recovery_codes")).get_unused_codes()
    assert len(codes) == 10
    sign_in_with_password(client)
    assert client.post(CODE, {"code": codes[0]})["Location"] == "/"
    assert client.get("/").status_code == 200
    client.post("/accounts/sign-out/")
    sign_in_with_password(client)
    assert client.post(CODE, {"code": codes[0]}).status_code == 200, "a used recovery code is refused"


# --- Enrolment at first sign-in -------------------------------------------------------------------------


def test_first_sign_in_enrols_an_app_with_a_qr_code_drawn_here_then_shows_recovery_codes(client, staff):
    response = sign_in_with_password(client)
    assert response["Location"] == "/"
    assert client.get("/")["Location"] == ENROL + "?next=%2F"

    page = client.get(ENROL)
    body = page.content.decode()
    assert page.status_code == 200
    assert "<svg" in body, "the QR code is inline SVG drawn on the server"
    assert not re.search(r'<img[^>]+src="(https?:|data:)', body), "no QR image fetched from elsewhere"
    secret = page.context["form"].secret
    assert secret in body, "the key is shown for typing in by hand"

    refused = client.post(ENROL, {"code": "12345"})
    assert refused.status_code == 200
    assert not Authenticator.objects.filter(user=staff).exists()

    done = client.post(ENROL, {"code": totp_code(secret)})
    assert done["Location"] == "/accounts/2fa/recovery-codes/"
    assert set(Authenticator.objects.filter(user=staff).values_list("type", flat=True)) == {
        "totp",
        "recovery_codes",
    }
    codes_page = client.get(done["Location"]).content.decode()
    assert "Your recovery codes" in codes_page and "Continue to Today" in codes_page
    assert client.get("/").status_code == 200, "enrolling counts as this session's second factor"


def test_nobody_can_switch_their_own_second_factor_off(client_for, staff):
    enrol(staff)
    client = client_for(staff)
    response = client.post("/accounts/2fa/totp/deactivate/")
    assert response.status_code == 200
    assert Authenticator.objects.filter(user=staff, type="totp").exists()


def test_nobody_signs_themselves_up(client, db):
    response = client.post(
        "/accounts/signup/",
        {"username": "intruder", "password1": "a long passphrase 9", "password2": "a long passphrase 9"},
    )
    assert response.status_code == 200
    assert "closed" in response.content.decode().lower()
    assert not UserFactory._meta.model.objects.filter(username="intruder").exists()


# --- An admin resets a lost device ----------------------------------------------------------------------


def test_an_admin_resets_a_lost_device_audited_and_the_user_enrols_again(
    client_for, admin_user, staff, client
):
    enrol(staff)
    UserSession.objects.create(user=staff, session_key="x" * 32)
    admin = client_for(admin_user)
    response = admin.post(
        "/admin/accounts/user/",
        {"action": "reset_second_factor", "_selected_action": [staff.pk]},
        follow=True,
    )
    assert "Two-factor device reset for 1 account" in response.content.decode()
    assert not Authenticator.objects.filter(user=staff).exists()
    assert not UserSession.objects.filter(user=staff).exists()
    event = AccessEvent.objects.get(detail__startswith="two-factor device reset")
    assert event.actor == admin_user
    assert event.object_id == str(staff.pk)
    assert event.path == "/admin/accounts/user/"

    admin.post("/accounts/sign-out/")
    sign_in_with_password(client)
    assert client.get("/")["Location"].startswith(ENROL)


def test_the_user_page_in_admin_says_whether_an_app_is_enrolled(client_for, admin_user, staff):
    admin = client_for(admin_user)
    assert "Not enrolled yet" in admin.get(f"/admin/accounts/user/{staff.pk}/change/").content.decode()
    enrol(staff)
    assert "Enrolled." in admin.get(f"/admin/accounts/user/{staff.pk}/change/").content.decode()


def test_admin_has_no_page_to_delete_authenticators_unaudited(client_for, admin_user):
    assert client_for(admin_user).get("/admin/mfa/authenticator/").status_code == 404


def test_guessing_codes_is_stopped_after_a_few_wrong_ones(client, staff):
    enrol(staff)
    sign_in_with_password(client)
    wrong = "000000" if totp_code() != "000000" else "111111"
    for _ in range(5):
        client.post(CODE, {"code": wrong})
    response = client.post(CODE, {"code": totp_code()})
    assert response.status_code in (200, 429)
    assert "_auth_user_id" not in client.session, "the right code after five guesses waits"


def test_the_authenticator_key_is_stored_encrypted(staff):
    enrol(staff)
    stored = Authenticator.objects.get(user=staff, type="totp").data["secret"]
    assert TEST_TOTP_SECRET not in stored
    from allauth.mfa.utils import decrypt

    assert decrypt(stored) == TEST_TOTP_SECRET


@pytest.mark.parametrize(
    "url",
    [
        "/accounts/2fa/",
        "/accounts/2fa/recovery-codes/",
        "/accounts/2fa/recovery-codes/generate/",
        "/accounts/2fa/totp/deactivate/",
        "/accounts/password/change/",
    ],
)
def test_the_account_pages_open_in_the_product_look_for_a_signed_in_user(client_for, staff, url):
    enrol(staff)
    response = client_for(staff).get(url)
    assert response.status_code == 200, url
    assert "/static/css/alliance.css" in response.content.decode()


def test_the_second_factor_pages_offer_no_way_to_switch_it_off(client_for, staff):
    enrol(staff)
    client = client_for(staff)
    overview = client.get("/accounts/2fa/").content.decode()
    assert "/accounts/2fa/totp/deactivate/" not in overview
    assert "Ask an admin to reset your two-factor device" in overview
    page = client.get("/accounts/2fa/totp/deactivate/").content.decode()
    assert "stays on" in page
    assert 'action="/accounts/2fa/totp/deactivate/"' not in page
