from django.conf import settings

from .signin import session_passed_second_factor


def session_timeout(request):
    """What static/js/session-timeout.js needs to warn before the idle sign-out."""
    return {
        "session_idle_seconds": settings.SESSION_IDLE_TIMEOUT_SECONDS,
        "session_warning_seconds": settings.SESSION_IDLE_WARNING_SECONDS,
    }


def second_factor(request):
    """Whether this session has passed its second factor: what a page loads after itself (the navigation's unread
    count) waits for it, or the enrolment page would send that request to sign in again."""
    if not hasattr(request, "session") or not hasattr(request, "user"):
        # A template rendered outside a browser's request (a RequestFactory one): nothing loads after it.
        return {"second_factor_passed": False}
    return {"second_factor_passed": session_passed_second_factor(request)}
