"""Role checks: every non-public view uses ``role_required`` or ``RoleRequiredMixin``.

An anonymous visitor is sent to sign in; a signed-in user with the wrong role gets 403.
"""

from functools import wraps

from django.contrib.auth.mixins import LoginRequiredMixin
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ImproperlyConfigured, PermissionDenied

from .models import Role

EVERYONE = (Role.ADMIN, Role.PRACTITIONER, Role.STAFF)
CLINICAL = (Role.ADMIN, Role.PRACTITIONER)


def has_role(user, roles) -> bool:
    """Whether ``user`` is signed in, active, and holds one of ``roles``."""
    return bool(user is not None and user.is_authenticated and user.is_active and user.role in roles)


def _check(user, roles) -> None:
    if not has_role(user, roles):
        raise PermissionDenied("Your role does not give access to this page.")


def role_required(*roles):
    """Decorate a view so that only signed-in users with one of ``roles`` reach it."""
    if not roles:
        raise ImproperlyConfigured("role_required needs at least one role.")

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            _check(request.user, roles)
            return view(request, *args, **kwargs)

        wrapped.allowed_roles = tuple(roles)
        return wrapped

    return decorator


class RoleRequiredMixin(LoginRequiredMixin):
    """Class-based twin of ``role_required``: set ``allowed_roles`` on the view."""

    allowed_roles: tuple[str, ...] = ()

    def dispatch(self, request, *args, **kwargs):
        if not self.allowed_roles:
            raise ImproperlyConfigured(f"{type(self).__name__} must set allowed_roles.")
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        _check(request.user, self.allowed_roles)
        return super().dispatch(request, *args, **kwargs)
