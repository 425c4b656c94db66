"""First-run set-up for `make run`: demo sign-ins and demo data, only when the database is empty.

Creates an admin, a practitioner and a staff member when there is no admin yet, each with an
authenticator app already enrolled, and prints their password (set ``DEMO_PASSWORD`` to choose it) and
each one's authenticator key once; then loads ``seed_demo`` when there is no data.
Running it again changes nothing.
"""

import os
import secrets

from allauth.mfa.adapter import get_adapter as get_mfa_adapter
from allauth.mfa.totp.internal.auth import generate_totp_secret
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import Role
from accounts.services import user_totp_enrol

DEMO_USERS = [
    ("admin", "Avery Admin", Role.ADMIN),
    ("dr.rivera", "Dr. Maya Rivera", Role.PRACTITIONER),
    ("frontdesk", "Jordan Front Desk", Role.STAFF),
]


class Command(BaseCommand):
    help = __doc__

    def handle(self, *args, **options):
        User = get_user_model()
        if User.objects.filter(role=Role.ADMIN).exists():
            self.stdout.write("An admin exists already: demo sign-ins left as they are.")
        else:
            password = os.environ.get("DEMO_PASSWORD") or secrets.token_urlsafe(12)
            with transaction.atomic():
                sign_ins = [
                    create_demo_sign_in(username, name, role, password) for username, name, role in DEMO_USERS
                ]
            rule = "=" * 64
            self.stdout.write(self.style.SUCCESS(rule))
            self.stdout.write(self.style.SUCCESS(" Demo sign-ins (shown this once: note them now)"))
            for (username, _, role), (secret, url) in zip(DEMO_USERS, sign_ins, strict=True):
                self.stdout.write(f"   {username:<12} {password}   ({role.label})")
                self.stdout.write(f"      authenticator key {secret}")
                self.stdout.write(f"      {url}")
            self.stdout.write(
                " Add each key to an authenticator app (or open its otpauth:// link on your phone),\n"
                " then sign in with the password and the app's 6-digit code."
            )
            self.stdout.write(self.style.SUCCESS(rule))
        call_command("seed_demo", "--if-empty", stdout=self.stdout)


def create_demo_sign_in(username: str, display_name: str, role: str, password: str) -> tuple[str, str]:
    """One demo colleague with an authenticator app enrolled; returns its key and otpauth:// link."""
    user = get_user_model().objects.create_user(
        username=username,
        email=f"{username}@clinic.invalid",
        password=password,
        display_name=display_name,
        role=role,
        is_superuser=role == Role.ADMIN,
    )
    secret = generate_totp_secret()
    user_totp_enrol(user=user, secret=secret)
    return secret, get_mfa_adapter().build_totp_url(user, secret)
