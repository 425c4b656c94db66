"""Sign-in throttling (django-axes) that stops guessing without locking the clinic out.

Failures are counted two ways at once: per address across every username (someone trying many accounts),
and per username across every address (someone trying one account from many places). Each way has its own
limit: the address limit is higher, because a whole clinic may sign in from one address.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_lockout_parameters
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Sum

if TYPE_CHECKING:
    from django.http import HttpRequest

USERNAME_MAX = 150  # accounts.User.username's max_length; axes keeps at most 255


def throttle_username(request: HttpRequest, credentials: dict | None = None) -> str | None:
    """The username axes counts and stores: what was typed, cut to a length its column holds.

    Our sign-in page (allauth's form) posts it as ``login`` and its backend passes it on as ``username``;
    Django admin's own form posts ``username``."""
    if credentials and credentials.get("username"):
        username = credentials["username"]
    else:
        data = getattr(request, "data", request.POST)
        username = data.get("login") or data.get("username")
    return username[:USERNAME_MAX] if isinstance(username, str) else None


def _limit_for(parameters) -> int:
    names = [parameters] if isinstance(parameters, str) else list(parameters)
    return settings.AXES_IP_FAILURE_LIMIT if names == ["ip_address"] else settings.AXES_FAILURE_LIMIT


class ThrottleHandler(AxesDatabaseHandler):
    """Axes' database handler with a limit per lockout parameter set.

    Axes compares one number with ``AXES_FAILURE_LIMIT``; each set's failures are scaled to that limit,
    so the address set locks at ``AXES_IP_FAILURE_LIMIT`` and the username set at ``AXES_FAILURE_LIMIT``.
    """

    def get_failures(self, request, credentials: dict | None = None) -> int:
        limit = settings.AXES_FAILURE_LIMIT
        parameter_sets = get_lockout_parameters(request, credentials)
        attempts_list = self.get_user_attempts(request, credentials)
        scaled = [
            (attempts.aggregate(n=Sum("failures_since_start"))["n"] or 0) * limit // _limit_for(parameters)
            for parameters, attempts in zip(parameter_sets, attempts_list, strict=True)
        ]
        return max(scaled, default=0)

    def reset_user_attempts(self, request, credentials: dict | None = None) -> int:
        """A right password clears that username's failures only: another account's guesses from the same
        address still count against the address."""
        username = throttle_username(request, credentials)
        count, _ = AccessAttempt.objects.filter(username=username).delete()
        return count
