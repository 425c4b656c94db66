"""django-allauth's pages (second factor, password reset, password change), under /accounts/ beside ours.

allauth reverses its own un-namespaced names (``account_login``, ``mfa_authenticate``…), so its URLs are
included at the root. Its sign-in address forwards to ours, ``account_login`` names ours (when two patterns
share a name, ``reverse`` takes the last), and enrolment is our subclass of its view.

Its pages for adding, removing and verifying one's own email addresses are not offered: a clinic account's
address is where its password resets go, so only an admin changes it (Accounts → Users). Their paths are
answered 404 for everyone by patterns listed before allauth's (the first match wins), under allauth's names
so that its own links still reverse.
"""

from django.urls import include, path, re_path
from django.views.generic import RedirectView

from . import views

urlpatterns = [
    path(
        "login/",
        RedirectView.as_view(pattern_name="accounts:login", query_string=True),
        name="allauth_login_forward",
    ),
    path("2fa/totp/activate/", views.EnrolTOTPView.as_view(), name="mfa_activate_totp"),
    path("email/", views.not_offered, name="account_email"),
    path("confirm-email/", views.not_offered, name="account_email_verification_sent"),
    re_path(r"^confirm-email/(?P<key>[-:\w]+)/$", views.not_offered, name="account_confirm_email"),
    path("", include("allauth.urls")),
    path("sign-in/", views.SignInView.as_view(), name="account_login"),
    path("sign-out/", views.SignOutView.as_view(), name="account_logout"),
]
