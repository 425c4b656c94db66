"""Passwords: at least 12 characters, not common, not like the person's own details; reset by email that
tells a stranger nothing about which addresses have accounts, and that never skips the second factor."""

import re

import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError

from tests.factories import PASSWORD, UserFactory
from tests.support.signin import enrol, totp_code

RESET = "/accounts/password/reset/"
NEW_PASSWORD = "tidal-orchard-lantern-47"


@pytest.mark.parametrize(
    "password",
    ["Summer2024", "short pass", "password1234", "123456789012", "Charlie Desk 1", "charlie@clinic"],
)
def test_weak_passwords_are_refused(staff, password):
    with pytest.raises(ValidationError):
        validate_password(password, user=staff)


def test_summer2024_is_refused_for_being_short(staff):
    with pytest.raises(ValidationError) as refused:
        validate_password("Summer2024", user=staff)
    assert any("at least 12 characters" in message for message in refused.value.messages)


def test_a_long_uncommon_password_is_accepted(staff):
    validate_password(NEW_PASSWORD, user=staff)


def test_the_sign_in_page_offers_a_password_reset(client, db):
    body = client.get("/accounts/sign-in/").content.decode()
    assert f'href="{RESET}"' in body


def test_password_reset_answers_the_same_for_known_and_unknown_addresses(client, staff, mailoutbox):
    known = client.post(RESET, {"email": staff.email})
    unknown = client.post(RESET, {"email": "nobody@elsewhere.invalid"})
    assert known.status_code == unknown.status_code == 302
    assert known["Location"] == unknown["Location"] == "/accounts/password/reset/done/"
    assert [message.to for message in mailoutbox] == [[staff.email]], "no mail to an address with no account"


def test_the_reset_page_says_nothing_of_whether_the_address_is_known(client, staff):
    done = client.post(RESET, {"email": "nobody@elsewhere.invalid"}, follow=True).content.decode()
    assert "not assigned" not in done.lower() and "no account" not in done.lower()


def test_a_reset_link_sets_a_new_password_and_signing_in_still_needs_the_code(client, staff, mailoutbox):
    enrol(staff)
    client.post(RESET, {"email": staff.email.upper()})
    (link,) = re.findall(r"https?://[^\s]+/accounts/password/reset/key/[^\s]+", mailoutbox[0].body)
    path = re.sub(r"^https?://[^/]+", "", link)
    form_page = client.get(path, follow=True)
    action = form_page.redirect_chain[-1][0] if form_page.redirect_chain else path

    weak = client.post(action, {"password1": "Summer2024", "password2": "Summer2024"})
    assert weak.status_code == 200
    staff.refresh_from_db()
    assert staff.check_password(PASSWORD), "a refused password changes nothing"

    response = client.post(action, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert response.status_code == 302
    staff.refresh_from_db()
    assert staff.check_password(NEW_PASSWORD)
    assert "_auth_user_id" not in client.session, "a reset does not sign anyone in"

    response = client.post("/accounts/sign-in/", {"login": "charlie", "password": NEW_PASSWORD})
    assert response["Location"] == "/accounts/2fa/authenticate/"
    assert client.post(response["Location"], {"code": totp_code()})["Location"] == "/"


def test_admin_cannot_give_a_new_account_a_weak_password(client_for, admin_user):
    response = client_for(admin_user).post(
        "/admin/accounts/user/add/",
        {
            "username": "newdoc",
            "role": "practitioner",
            "password1": "Summer2024",
            "password2": "Summer2024",
            "usable_password": "true",
        },
    )
    assert response.status_code == 200
    assert not UserFactory._meta.model.objects.filter(username="newdoc").exists()
