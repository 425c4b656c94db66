"""How django-allauth signs people in here: no sign-up, a second factor nobody can switch off, and the
helpers that tell whether a session has passed it.

allauth keeps a log of the ways a session authenticated (``password``, then ``mfa`` for a TOTP code or a
recovery code); a signed-in session whose log has no ``mfa`` entry has passed a password only.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.internal.flows.login import get_authentication_records, record_authentication
from allauth.mfa.adapter import DefaultMFAAdapter
from allauth.mfa.models import Authenticator
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

from .sessions import session_begin

if TYPE_CHECKING:
    from django.http import HttpRequest


class AccountAdapter(DefaultAccountAdapter):
    error_messages = {
        **DefaultAccountAdapter.error_messages,
        "username_password_mismatch": "That username and password do not match an account. Check both and try again.",
    }

    def pre_authenticate(self, request: HttpRequest, **credentials) -> None:
        """Wrong passwords are counted by django-axes alone (accounts/throttle.py), not also by allauth.

        allauth's own ``login_failed`` limit (10 a minute per address, 5 per username) refuses the form
        before ``authenticate`` runs, so axes never saw those attempts: it could not reach its address
        limit, and a clinic sharing one address was stopped by allauth's lower one, with a form error
        instead of the "Sign-in paused" page. allauth's limit still guards second-factor codes
        (``allauth.mfa``'s ``check_rate_limit``), which do not come through here."""

    def login(self, request: HttpRequest, user) -> None:
        """Django's login (a new session key), then the session's clocks and its tracking start."""
        super().login(request, user)
        session_begin(request.session, user)

    def is_open_for_signup(self, request: HttpRequest) -> bool:
        """Accounts are made by a clinic admin, never by the person themselves."""
        return False


def _totp_fernet() -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"alliance-crm totp secrets").derive(
        settings.MFA_SECRET_KEY.encode()
    )
    return Fernet(base64.urlsafe_b64encode(key))


class MFAAdapter(DefaultMFAAdapter):
    def encrypt(self, text: str) -> str:
        """TOTP keys are kept encrypted (Fernet, keyed from MFA_SECRET_KEY): a copy of the database alone
        does not give anyone the codes."""
        return _totp_fernet().encrypt(text.encode()).decode()

    def decrypt(self, encrypted_text: str) -> str:
        return _totp_fernet().decrypt(encrypted_text.encode()).decode()

    def can_delete_authenticator(self, authenticator: Authenticator) -> bool:
        """Nobody switches their own second factor off; an admin resets a lost device instead."""
        return False


def has_totp(user) -> bool:
    return Authenticator.objects.filter(user_id=user.pk, type=Authenticator.Type.TOTP).exists()


def session_passed_second_factor(request: HttpRequest) -> bool:
    """Whether this signed-in session proved a TOTP or recovery code (at sign-in, on enrolment, or later)."""
    user = request.user
    if not user.is_authenticated:
        return False
    return any(record.get("method") == "mfa" for record in get_authentication_records(request, user))


def mark_second_factor_passed(request: HttpRequest, *, kind: str) -> None:
    """Note in the session that its user just proved a second factor of ``kind`` (``totp``…)."""
    record_authentication(request, request.user, method="mfa", type=kind)
