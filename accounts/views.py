from allauth.account import views as allauth_views
from allauth.mfa.totp import views as totp_views
from django.conf import settings
from django.http import Http404, JsonResponse
from django.views.decorators.http import require_POST

from .models import UserSession
from .permissions import EVERYONE, role_required
from .signin import mark_second_factor_passed


class SignInView(allauth_views.LoginView):
    """Username and password; allauth then asks for the TOTP code (or enrolment, see SecondFactorMiddleware)."""

    template_name = "accounts/sign_in.html"


class SignOutView(allauth_views.LogoutView):
    def post(self, *args, **kwargs):
        if self.request.session.session_key:
            UserSession.objects.filter(session_key=self.request.session.session_key).delete()
        return super().post(*args, **kwargs)


class EnrolTOTPView(totp_views.ActivateTOTPView):
    """allauth's enrolment (QR code drawn on the server as SVG, then recovery codes); proving the first code
    counts as this session's second factor."""

    def form_valid(self, form):
        response = super().form_valid(form)
        mark_second_factor_passed(self.request, kind="totp")
        return response


@role_required(*EVERYONE)
@require_POST
def keep_alive(request):
    """The "Stay signed in" button: the request itself renews the idle timer; the answer says for how long."""
    return JsonResponse({"idle_timeout_seconds": settings.SESSION_IDLE_TIMEOUT_SECONDS})


def not_offered(request, *args, **kwargs):
    """allauth's pages for managing one's own email addresses, answered 404 for everyone: a clinic account's
    address is set by an admin (Accounts → Users), because it is where password resets go."""
    raise Http404("Email addresses are managed by the clinic's admin.")
