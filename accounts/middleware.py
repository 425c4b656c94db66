"""Request wiring: who is acting and from where (the audit trail), how long a session lasts, and that every
signed-in page has seen the second factor."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import REDIRECT_FIELD_NAME, logout
from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponse, HttpResponseRedirect
from django.urls import reverse

from .audit import request_context
from .sessions import LAST_SEEN_AT, SIGNED_IN_AT, session_track
from .signin import has_totp, session_passed_second_factor

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponseBase


class AuditContextMiddleware:
    """Put the request's user, address, user agent and path in the audit context for the length of the
    request, and take them away again when it ends, however it ends. Listed after AuthenticationMiddleware."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        with request_context(request):
            return self.get_response(request)


def _to(request: HttpRequest, url: str) -> HttpResponseBase:
    """A redirect the browser follows; htmx gets told to load the page whole instead of swapping it in."""
    if getattr(request, "htmx", False):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return HttpResponseRedirect(url)


class SessionPolicyMiddleware:
    """Sign a session out after ``SESSION_IDLE_TIMEOUT_SECONDS`` without a request and after
    ``SESSION_ABSOLUTE_LIFETIME_SECONDS`` in all, and note each signed-in session against its user so that
    switching the user off ends them all. Listed after AuthenticationMiddleware and MessageMiddleware."""

    # How often the "last seen" time is written back: not on every request, the session is a database row.
    RESOLUTION_SECONDS = 15

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        user = request.user
        if not user.is_authenticated:
            return self.get_response(request)
        session = request.session
        now = time.time()
        started = session.get(SIGNED_IN_AT)
        last_seen = session.get(LAST_SEEN_AT)
        if started is not None and now - started > settings.SESSION_ABSOLUTE_LIFETIME_SECONDS:
            return self._sign_out(request, "You were signed out after a full day. Please sign in again.")
        if last_seen is not None and now - last_seen > settings.SESSION_IDLE_TIMEOUT_SECONDS:
            minutes = round(settings.SESSION_IDLE_TIMEOUT_SECONDS / 60)
            return self._sign_out(
                request,
                f"You were signed out after {minutes} minutes without activity. Please sign in again.",
            )
        if started is None:
            session[SIGNED_IN_AT] = now
        if last_seen is None or now - last_seen >= self.RESOLUTION_SECONDS:
            session[LAST_SEEN_AT] = now
        session_track(session, user)  # a session from before tracking began; new ones are tracked at sign-in
        return self.get_response(request)

    def _sign_out(self, request: HttpRequest, message: str) -> HttpResponseBase:
        logout(request)
        messages.info(request, message)
        return _to(request, redirect_to_login(request.get_full_path())["Location"])


class SecondFactorMiddleware:
    """Refuse every page to a signed-in session that has not passed its second factor: one with no
    authenticator app yet goes to enrolment, one that has an app but proved only a password (an old
    session, a password-only sign-in) goes to enter a code. Only those pages and signing out stay open."""

    OPEN_TO_PASSWORD_ONLY = frozenset(
        {
            "mfa_activate_totp",
            "mfa_reauthenticate",
            "account_reauthenticate",
            "account_logout",
            "accounts:logout",
        }
    )

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func, view_args, view_kwargs
    ) -> HttpResponseBase | None:
        if not request.user.is_authenticated or session_passed_second_factor(request):
            return None
        if request.resolver_match.view_name in self.OPEN_TO_PASSWORD_ONLY:
            return None
        target = reverse("mfa_reauthenticate" if has_totp(request.user) else "mfa_activate_totp")
        return _to(request, f"{target}?{urlencode({REDIRECT_FIELD_NAME: request.get_full_path()})}")
