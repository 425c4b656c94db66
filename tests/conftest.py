import os

import pytest
import redis
from django.conf import settings
from django.db import connection

from tests.factories import UserFactory

IN_CI = bool(os.environ.get("CI"))


def require(service: str, available: bool, how: str) -> None:
    """Skip on a developer's machine, fail in CI: CI must prove the code on the real servers."""
    if available:
        return
    message = f"{service} is needed for this test: {how}"
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def redis_available(url: str) -> bool:
    if not url.startswith(("redis://", "rediss://")):
        return False
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=2).ping())
    except redis.RedisError:
        return False


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(config, items):
    """Browser tests run after every other test, whatever else reorders the session.

    Their session fixtures keep Playwright's event loop running and set DJANGO_ALLOW_ASYNC_UNSAFE until the
    session ends (tests/browser/conftest.py), so no other test may come after them. pytest calls the plain
    hooks of later-registered plugins first: a sort in tests/browser/conftest.py (registered during
    collection) ran before pytest's own fixture reordering, which groups tests sharing a session-scoped
    parameter (``browser_name``; a test whose own ``page`` parameter shadowed Playwright's fixture had it
    too) and so put them back mid-session. A wrapper's code after ``yield`` runs after every plain hook.
    """
    yield
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def postgres(db):
    """The test runs on PostgreSQL (DATABASE_URL=postgres://…), or skips — or fails in CI."""
    require("PostgreSQL", connection.vendor == "postgresql", "set DATABASE_URL=postgres://…")
    return connection


@pytest.fixture
def redis_broker():
    url = settings.CELERY_BROKER_URL
    require("Redis", redis_available(url), f"set CELERY_BROKER_URL=redis://… (now {url.split('://')[0]}://)")
    return url


@pytest.fixture
def admin_user(db):
    return UserFactory(role="admin", username="alice", display_name="Alice Admin")


@pytest.fixture
def practitioner(db):
    return UserFactory(role="practitioner", username="bob", display_name="Dr. Bob Moss")


@pytest.fixture
def other_practitioner(db):
    return UserFactory(role="practitioner", username="dana", display_name="Dr. Dana Lee")


@pytest.fixture
def staff(db):
    return UserFactory(role="staff", username="charlie", display_name="Charlie Desk")


@pytest.fixture
def client_for(client):
    """Sign a user in on the test client: ``client_for(staff)``."""

    def sign_in(user):
        client.force_login(user)
        return client

    return sign_in
