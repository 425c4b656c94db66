"""Sign-in throttling stops guessing from one address and at one account, with a clear page and an unlock."""

import pytest
import time_machine
from axes.models import AccessAttempt
from django.core.management import call_command
from django.utils import timezone

from tests.factories import PASSWORD

URL = "/accounts/sign-in/"


def attempt(client, username, address, password="guess"):  # noqa: S107
    return client.post(URL, {"login": username, "password": password}, REMOTE_ADDR=address)


def accepted(response) -> bool:
    """The password was taken: allauth moves on (to enrolment, or to the code for an enrolled account)."""
    return response.status_code == 302 and not response["Location"].startswith(URL)


def test_thirty_usernames_from_one_address_lock_that_address(client, staff, settings):
    settings.AXES_IP_FAILURE_LIMIT = 20
    statuses = [attempt(client, f"user{n}", "198.51.100.1").status_code for n in range(30)]
    assert statuses[:19] == [200] * 19
    assert 429 in statuses[19:]
    locked = attempt(client, "charlie", "198.51.100.1", password=PASSWORD)
    assert locked.status_code == 429
    assert "Sign-in paused" in locked.content.decode()
    assert accepted(attempt(client, "charlie", "198.51.100.2", password=PASSWORD))


def test_one_username_from_many_addresses_locks_that_username(client, staff, settings):
    settings.AXES_FAILURE_LIMIT = 5
    for n in range(5):
        attempt(client, "charlie", f"198.51.100.{n + 10}")
    locked = attempt(client, "charlie", "198.51.100.99", password=PASSWORD)
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session


def test_the_clinic_is_not_locked_out_by_a_few_mistakes_among_colleagues(client, settings, staff):
    settings.AXES_FAILURE_LIMIT = 5
    settings.AXES_IP_FAILURE_LIMIT = 20
    for n in range(10):  # ten colleagues each mistype once from the clinic's address
        attempt(client, f"colleague{n}", "192.0.2.10")
    assert accepted(attempt(client, "charlie", "192.0.2.10", password=PASSWORD))


def test_the_lock_ends_after_the_cool_off(client, staff, settings):
    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(3):
        attempt(client, "charlie", "198.51.100.3")
    assert attempt(client, "charlie", "198.51.100.3", password=PASSWORD).status_code == 429
    with time_machine.travel(timezone.now() + settings.AXES_COOLOFF_TIME + timezone.timedelta(minutes=1)):
        assert accepted(attempt(client, "charlie", "198.51.100.3", password=PASSWORD))


def test_an_admin_unlocks_a_username_with_the_documented_command(client, staff, settings):
    settings.AXES_FAILURE_LIMIT = 3
    for n in range(3):
        attempt(client, "charlie", f"198.51.100.{n + 30}")
    assert attempt(client, "charlie", "198.51.100.40", password=PASSWORD).status_code == 429
    call_command("axes_reset_username", "charlie")
    assert accepted(attempt(client, "charlie", "198.51.100.40", password=PASSWORD))


def test_an_admin_sees_the_attempts_in_admin(client_for, admin_user, client, settings):
    attempt(client, "charlie", "198.51.100.5")
    client = client_for(admin_user)
    assert client.get("/admin/axes/accessattempt/").status_code == 200


@pytest.mark.parametrize("length", [151, 256, 5000])
def test_an_over_long_username_gets_a_message_not_an_error(client, db, length):
    response = attempt(client, "a" * length, "198.51.100.6")
    assert response.status_code == 200
    assert "longer than any account" in response.content.decode()


def test_an_over_long_username_on_the_admin_sign_in_is_not_an_error(client, db):
    """Django admin has no sign-in form of its own: a post to it is sent to ours, never processed, and
    stores nothing too long."""
    response = client.post(
        "/admin/login/", {"username": "a" * 300, "password": "x"}, REMOTE_ADDR="198.51.100.7"
    )
    assert response.status_code == 302
    assert response["Location"].startswith(URL + "?next=")
    assert "_auth_user_id" not in client.session
    assert all(len(a.username) <= 150 for a in AccessAttempt.objects.all())


@pytest.mark.postgres
def test_an_over_long_username_is_refused_on_postgresql(client, postgres):
    response = attempt(client, "a" * 300, "198.51.100.8")
    assert response.status_code == 200
    assert "longer than any account" in response.content.decode()
    admin = client.post("/admin/login/", {"username": "b" * 300, "password": "x"}, REMOTE_ADDR="198.51.100.8")
    assert admin.status_code == 302
    assert admin["Location"].startswith(URL + "?next=")
    assert all(len(a.username) <= 150 for a in AccessAttempt.objects.all())
