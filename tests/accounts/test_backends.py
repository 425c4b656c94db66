"""The authentication backend's read of the signed-in user (``accounts.backends``): compiled once per thread,
it is the ORM's ``.get(pk=…)`` by the same SQL, the same user field for field, and nobody for an unknown id, an
inactive account or a value that is not an id."""

import pytest
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, SESSION_KEY
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.backends import AuthenticationBackend
from accounts.models import User
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

HOSTILE = "<script>alert('x')</script> \"Quote\" & Sons — Zoë"


def fields(user: User) -> dict:
    return {f.attname: getattr(user, f.attname) for f in User._meta.concrete_fields}


def test_the_user_is_the_orms_user_by_the_same_sql():
    backend = AuthenticationBackend()
    people = [UserFactory(role=role, display_name=HOSTILE) for role in ("admin", "practitioner", "staff")]
    for person in people * 2:  # the second round from the SQL compiled in the first
        with CaptureQueriesContext(connection) as ours:
            read = backend.get_user(str(person.pk))  # the session keeps the id as text
        with CaptureQueriesContext(connection) as orms:
            expected = User._default_manager.get(pk=person.pk)
        assert type(read) is User and fields(read) == fields(expected)
        assert [q["sql"] for q in ours.captured_queries] == [q["sql"] for q in orms.captured_queries]


def test_nobody_for_an_unknown_id_an_inactive_account_or_not_an_id():
    backend = AuthenticationBackend()
    gone = UserFactory(role="staff", is_active=False)
    assert backend.get_user(str(gone.pk)) is None
    assert backend.get_user("918273646") is None
    for not_an_id in ("", "1 OR 1=1", "abc", None):
        assert backend.get_user(not_an_id) is None


def test_a_signed_in_page_reads_its_user_once(client, staff):
    assert "accounts.backends.AuthenticationBackend" in settings.AUTHENTICATION_BACKENDS
    client.force_login(staff)
    assert client.session[BACKEND_SESSION_KEY] == "accounts.backends.AuthenticationBackend"
    client.get("/")
    with CaptureQueriesContext(connection) as page:
        assert client.get("/").status_code == 200
    user_reads = [
        q for q in page.captured_queries if 'FROM "accounts_user"' in q["sql"] and "LIMIT" in q["sql"]
    ]
    assert len(user_reads) == 1 and str(staff.pk) in user_reads[0]["sql"]


def test_a_session_of_an_unknown_backend_is_signed_out(client, staff):
    client.force_login(staff)
    session = client.session
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session.save()
    assert client.session[SESSION_KEY] == str(staff.pk)
    response = client.get("/")
    assert response.status_code == 302 and "/accounts/" in response["Location"]
