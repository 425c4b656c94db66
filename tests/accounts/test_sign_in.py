import pytest

from tests.factories import PASSWORD
from tests.support.signin import enrol, totp_code


def test_sign_in_page_is_in_the_product_look(client, db):
    response = client.get("/accounts/sign-in/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "Alliance CRM" in body
    assert "/static/vendor/bootstrap-5.3.9/bootstrap.min.css" in body
    assert "csrfmiddlewaretoken" in body


def test_a_user_signs_in_with_password_and_code_and_lands_on_today(client, staff):
    secret = enrol(staff)
    response = client.post("/accounts/sign-in/", {"login": "charlie", "password": PASSWORD})
    assert response["Location"] == "/accounts/2fa/authenticate/"
    response = client.post(response["Location"], {"code": totp_code(secret)}, follow=True)
    assert response.redirect_chain[-1][0] == "/"
    body = response.content.decode()
    assert "Today" in body and "Charlie Desk" in body


def test_a_wrong_password_gets_a_clear_message_and_no_session(client, staff):
    response = client.post("/accounts/sign-in/", {"login": "charlie", "password": "nope"})
    assert response.status_code == 200
    assert "do not match an account" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_sign_in_sends_the_user_back_where_they_were_going(client, staff):
    secret = enrol(staff)
    client.post(
        "/accounts/sign-in/?next=/insights/",
        {"login": "charlie", "password": PASSWORD, "next": "/insights/"},
    )
    response = client.post("/accounts/2fa/authenticate/", {"code": totp_code(secret)})
    assert response["Location"] == "/insights/"


def test_sign_out_ends_the_session(client_for, staff):
    client = client_for(staff)
    response = client.post("/accounts/sign-out/")
    assert response.status_code == 302
    assert client.get("/").status_code == 302


@pytest.mark.django_db
def test_createsuperuser_makes_an_admin(django_user_model):
    user = django_user_model.objects.create_superuser("root", "root@clinic.invalid", PASSWORD)
    assert user.role == "admin"
    assert user.is_staff


def test_admin_access_follows_the_role(staff, practitioner, admin_user):
    assert not staff.is_staff
    assert not practitioner.is_staff
    assert admin_user.is_staff
    admin_user.is_active = False
    assert not admin_user.is_staff


def test_repeated_wrong_passwords_pause_sign_in_for_that_account_from_every_address(client, staff, settings):
    from datetime import timedelta

    import time_machine
    from django.utils import timezone

    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(3):
        client.post("/accounts/sign-in/", {"login": "charlie", "password": "guess"}, REMOTE_ADDR="10.0.0.9")
    locked = client.post(
        "/accounts/sign-in/", {"login": "charlie", "password": PASSWORD}, REMOTE_ADDR="10.0.0.9"
    )
    assert locked.status_code == 429
    assert "Sign-in paused" in locked.content.decode()
    assert "_auth_user_id" not in client.session

    other_place = client.post(
        "/accounts/sign-in/", {"login": "charlie", "password": PASSWORD}, REMOTE_ADDR="10.0.0.10"
    )
    assert other_place.status_code == 429, "guessing one account from many places is stopped too"
    client.logout()

    with time_machine.travel(timezone.now() + settings.AXES_COOLOFF_TIME + timedelta(minutes=1)):
        later = client.post(
            "/accounts/sign-in/", {"login": "charlie", "password": PASSWORD}, REMOTE_ADDR="10.0.0.9"
        )
    assert later.status_code == 302
