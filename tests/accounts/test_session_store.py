"""The session engine reads a session with one hand-written statement: what it loads must be what Django's own
database store loads, an expired or unknown session must load as nothing, and writing stays Django's."""

from datetime import timedelta

from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore as DjangoStore
from django.contrib.sessions.models import Session
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.session_store import SessionStore


def test_it_is_the_engine(settings):
    assert settings.SESSION_ENGINE == "accounts.session_store"


def test_a_session_loads_as_djangos_own_store_loads_it(db):
    written = SessionStore()
    written["who"] = "Ana <b>&</b> ‘Bob’"
    written["n"] = [1, 2]
    written.save()

    ours, djangos = SessionStore(written.session_key), DjangoStore(written.session_key)
    assert ours.load() == djangos.load() == {"who": "Ana <b>&</b> ‘Bob’", "n": [1, 2]}
    assert ours.session_key == written.session_key


def test_an_expired_or_unknown_session_loads_as_nothing_and_forgets_its_key(db):
    written = SessionStore()
    written["who"] = "Ana"
    written.save()
    Session.objects.filter(session_key=written.session_key).update(
        expire_date=timezone.now() - timedelta(seconds=1)
    )

    expired = SessionStore(written.session_key)
    assert expired.load() == {}
    assert expired.session_key is None
    unknown = SessionStore("x" * 32)
    assert unknown.load() == {} and unknown.session_key is None


def test_a_signed_in_page_reads_its_session_once(client_for, staff):
    client = client_for(staff)
    client.get("/")
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/").status_code == 200
    reads = [
        q["sql"] for q in queries if 'FROM "django_session"' in q["sql"] and q["sql"].startswith("SELECT")
    ]
    assert len(reads) == 1
    assert settings.SESSION_COOKIE_NAME in client.cookies
