"""Writes about the people who sign in: ending their sessions, switching them off, resetting a lost device."""

from __future__ import annotations

from typing import TYPE_CHECKING

from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP
from django.contrib.sessions.middleware import SessionMiddleware
from django.db import transaction
from django.http import HttpResponse

from .audit import record_access
from .models import AccessEvent, UserSession

if TYPE_CHECKING:
    from .models import User


def user_session_track(*, user: User, session_key: str) -> None:
    """Remember that ``user`` holds the session ``session_key``, so it can be ended with the others."""
    UserSession.objects.get_or_create(session_key=session_key, defaults={"user": user})


def user_sessions_end(*, user: User, keep: str | None = None) -> int:
    """End every session ``user`` is signed in with (but ``keep``); returns how many were ended."""
    store = SessionMiddleware(
        lambda request: HttpResponse()
    ).SessionStore  # the SESSION_ENGINE's, as Django finds it
    tracked = UserSession.objects.filter(user=user).exclude(session_key=keep or "")
    keys = list(tracked.values_list("session_key", flat=True))
    for key in keys:
        store(session_key=key).delete()
    tracked.delete()
    return len(keys)


@transaction.atomic
def user_deactivate(*, actor: User | None, user: User) -> None:
    """Switch ``user`` off and end all their sessions at once; written to the audit trail."""
    if user.is_active:
        user.is_active = False
        user.save(update_fields=["is_active"])
    ended = user_sessions_end(user=user)
    record_access(
        action=AccessEvent.Action.UPDATE,
        actor=actor,
        obj=user,
        detail=f"account switched off; {ended} open session(s) ended",
    )


@transaction.atomic
def user_second_factor_reset(*, actor: User, user: User) -> None:
    """Forget ``user``'s authenticator app and recovery codes and end their sessions: at their next sign-in
    they enrol a new device. Written to the audit trail."""
    removed = Authenticator.objects.filter(user=user).delete()[0]
    ended = user_sessions_end(user=user)
    record_access(
        action=AccessEvent.Action.UPDATE,
        actor=actor,
        obj=user,
        detail=f"two-factor device reset ({removed} authenticator(s) removed); {ended} session(s) ended",
    )


@transaction.atomic
def user_totp_enrol(*, user: User, secret: str) -> None:
    """Enrol ``user`` with an authenticator app on ``secret`` (base32) and fresh recovery codes, as the
    enrolment page would; for the demo sign-ins, whose secret is printed once."""
    Authenticator.objects.filter(user=user).delete()
    TOTP.activate(user, secret)
    RecoveryCodes.activate(user)
