"""What a signed-in session carries for its rules: when it began, when it was last seen, and that it is
tracked against its user (``UserSession``), so that switching the user off ends it."""

from __future__ import annotations

import time

from .services import user_session_track

SIGNED_IN_AT = "accounts.signed_in_at"
LAST_SEEN_AT = "accounts.last_seen_at"
TRACKED_KEY = "accounts.tracked_session_key"


def session_begin(session, user) -> None:
    """Start the clocks of a session that ``user`` has just signed in with, and track it. Called at sign-in
    (``AccountAdapter.login``), after Django has given the session its new key."""
    now = time.time()
    session[SIGNED_IN_AT] = now
    session[LAST_SEEN_AT] = now
    session_track(session, user)


def session_track(session, user) -> None:
    if session.session_key and session.get(TRACKED_KEY) != session.session_key:
        user_session_track(user=user, session_key=session.session_key)
        session[TRACKED_KEY] = session.session_key
