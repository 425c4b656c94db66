"""Signing in with both factors in tests: a force-logged-in client counts as having passed its second factor
(see the autouse fixture in tests/conftest.py) unless a test asks for a password-only session."""

from __future__ import annotations

import time

from allauth.account.internal.flows.login import (
    _AUTHENTICATION_METHODS_USER_SESSION_KEY,
    AUTHENTICATION_METHODS_SESSION_KEY,
)
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from django.test import Client

from accounts.services import user_totp_enrol
from accounts.sessions import session_begin

# Base32, as an authenticator app takes it. Tests only.
TEST_TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"

_django_force_login = Client.force_login


def mark_second_factor_passed(client: Client, user) -> None:
    """Write into the client's session what allauth writes when a TOTP code is accepted."""
    session = client.session
    records = session.get(AUTHENTICATION_METHODS_SESSION_KEY) or []
    now = time.time()
    if not records:
        records.append({"method": "password", "at": now, "username": user.get_username()})
    records.append({"method": "mfa", "at": now, "type": "totp"})
    session[AUTHENTICATION_METHODS_SESSION_KEY] = records
    session[_AUTHENTICATION_METHODS_USER_SESSION_KEY] = str(user.pk)
    session.save()


def force_login_password_only(client: Client, user, backend=None) -> None:
    """Django's force_login, then what our sign-in does to every new session (its clocks, its tracking)."""
    _django_force_login(client, user, backend)
    session = client.session
    session_begin(session, user)
    session.save()


def force_login_with_second_factor(client: Client, user, backend=None) -> None:
    force_login_password_only(client, user, backend)
    mark_second_factor_passed(client, user)


def totp_code(secret: str = TEST_TOTP_SECRET, *, at: float | None = None) -> str:
    """The code an authenticator app on ``secret`` shows now (or at ``at``)."""
    return format_hotp_value(hotp_value(secret, int(at if at is not None else time.time()) // 30))


def enrol(user, secret: str = TEST_TOTP_SECRET) -> str:
    user_totp_enrol(user=user, secret=secret)
    return secret
