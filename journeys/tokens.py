"""Signed links to a patient's check-in. Their own salt, so a token made for another purpose is refused."""

from __future__ import annotations

from datetime import timedelta

from django.core import signing

CHECKIN_SALT = "alliance.journeys.checkin"


def checkin_token(checkin_id: int) -> str:
    """A URL-safe token naming one check-in; it carries the moment it was made (see ``read_checkin_token``)."""
    return signing.dumps({"c": checkin_id}, salt=CHECKIN_SALT, compress=True)


def read_checkin_token(token: str, *, max_age: int | float | timedelta | None = None) -> int:
    """The check-in id, or raise ``signing.BadSignature`` for a tampered or foreign token
    (``signing.SignatureExpired``, a subclass, when it is older than ``max_age``).

    The token is made when the check-in is scheduled, which can be weeks before it is due: a
    ``max_age`` must cover the whole program, so the check-in's own ``closes_at`` is the better guard.
    """
    data = signing.loads(token, salt=CHECKIN_SALT, max_age=max_age)
    if not isinstance(data, dict) or type(data.get("c")) is not int:
        raise signing.BadSignature("unexpected token content")
    return data["c"]


INTAKE_SALT = "alliance.journeys.intake"


def intake_token(response_id: int) -> str:
    """A URL-safe token naming one intake questionnaire response (the patient's ``/q/<token>/`` link)."""
    return signing.dumps({"q": response_id}, salt=INTAKE_SALT, compress=True)


def read_intake_token(token: str) -> int:
    """The response id, or raise ``signing.BadSignature`` for a tampered or foreign token. No ``max_age``:
    the response's own ``closes_at`` (the visit's start, or the clinic's limit) is the guard."""
    data = signing.loads(token, salt=INTAKE_SALT)
    if not isinstance(data, dict) or type(data.get("q")) is not int:
        raise signing.BadSignature("unexpected token content")
    return data["q"]
