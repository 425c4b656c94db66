from django.conf import settings


def session_timeout(request):
    """What static/js/session-timeout.js needs to warn before the idle sign-out."""
    return {
        "session_idle_seconds": settings.SESSION_IDLE_TIMEOUT_SECONDS,
        "session_warning_seconds": settings.SESSION_IDLE_WARNING_SECONDS,
    }
