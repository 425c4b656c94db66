"""django-allauth's pages (second factor, password reset, password change), under /accounts/ beside ours.

allauth reverses its own un-namespaced names (``account_login``, ``mfa_authenticate``…), so its URLs are
included at the root. Its sign-in address forwards to ours, ``account_login`` names ours (when two patterns
share a name, ``reverse`` takes the last), and enrolment is our subclass of its view.
"""

from django.urls import include, path
from django.views.generic import RedirectView

from . import views

urlpatterns = [
    path(
        "login/",
        RedirectView.as_view(pattern_name="accounts:login", query_string=True),
        name="allauth_login_forward",
    ),
    path("2fa/totp/activate/", views.EnrolTOTPView.as_view(), name="mfa_activate_totp"),
    path("", include("allauth.urls")),
    path("sign-in/", views.SignInView.as_view(), name="account_login"),
    path("sign-out/", views.SignOutView.as_view(), name="account_logout"),
]
