"""The authentication backend: allauth's (a ``ModelBackend`` that knows allauth's sign-in flow), with the read of
the signed-in person that every request makes compiled once per thread.

``AuthenticationMiddleware`` reads the user by the id in the session on every signed-in request; the ORM spent
more Python building that one-row ``SELECT`` (~0.25 ms) than PostgreSQL spent answering it. The same SQL
(``.get(pk=…)``'s, its ``LIMIT`` included) now runs with each request's id (``accounts.queries.Compiled``)."""

from __future__ import annotations

from allauth.account.auth_backends import AuthenticationBackend as AllauthBackend
from django.db.models.query import MAX_GET_RESULTS

from accounts.models import User
from accounts.queries import Compiled, built_per_thread

_USER_MARKER = 918_273_646  # an id nothing else in the user's read spells


@built_per_thread
def _user_compiled() -> Compiled[User]:
    return Compiled(User._default_manager.filter(pk=_USER_MARKER).order_by()[:MAX_GET_RESULTS], _USER_MARKER)


class AuthenticationBackend(AllauthBackend):
    def get_user(self, user_id):
        """The active user with this id, or ``None`` (an unknown id, an inactive account, or not an id)."""
        try:
            pk = int(user_id)
        except (TypeError, ValueError):
            return None
        found = _user_compiled().rows(pk)
        user = found[0] if found else None
        return user if user is not None and self.user_can_authenticate(user) else None
