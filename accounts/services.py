"""Writes about the people who sign in (ending their sessions, switching them off, resetting a lost device),
and the daily publication of the audit trail's head outside the database."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP
from django.conf import settings
from django.contrib.sessions.middleware import SessionMiddleware
from django.core.mail import send_mail
from django.db import transaction
from django.http import HttpResponse

from .audit import audit_head, record_access
from .chain import Head
from .models import AccessEvent, UserSession

if TYPE_CHECKING:
    from .models import User

logger = logging.getLogger(__name__)


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


def audit_head_publish() -> Head:
    """Write the trail's head where the database's keys do not reach: one log line, and a short email to
    ``AUDIT_HEAD_MAIL_TO`` when set. Kept, it lets ``verify_audit --expect-head`` prove later that no row up
    to it was cut or rewritten. The head is a number and a hash: nothing about any patient."""
    head = audit_head()
    logger.info("audit trail head %s (check later: manage.py verify_audit --expect-head %s)", head, head)
    if settings.AUDIT_HEAD_MAIL_TO:
        try:
            send_mail(
                subject=f"Audit trail head: seq {head.seq}",
                message=(
                    f"The audit trail of {settings.CLINIC_NAME} ends at this row today:\n\n    {head}\n\n"
                    "Keep this email. If rows were ever cut from the trail or rewritten, this will show it:\n\n"
                    f"    python manage.py verify_audit --expect-head {head}\n"
                ),
                from_email=settings.DEFAULT_FROM_EMAIL,
                recipient_list=settings.AUDIT_HEAD_MAIL_TO,
            )
        except Exception:  # the log line is written; the next day's mail tries again
            logger.warning("could not email the audit trail head", exc_info=True)
    return head
