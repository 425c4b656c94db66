"""First-run set-up for `make run`: demo sign-ins and demo data, only when the database is empty.

Creates an admin, a practitioner and a staff member when there is no admin yet, each with an
authenticator app already enrolled, prints their password (set ``DEMO_PASSWORD`` to choose it) and each
one's authenticator key, and keeps the same lines in ``var/demo-sign-ins.txt`` (git-ignored, readable by
you alone) so that ``manage.py demo_sign_ins`` can show them again; then loads ``seed_demo`` when there is
no data. Running it again changes nothing.
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

from .demo_sign_ins import write_sign_ins

DEMO_USERS = [
    ("admin", "Avery Admin", Role.ADMIN),
    ("dr.rivera", "Dr. Maya Rivera", Role.PRACTITIONER),
    ("frontdesk", "Jordan Front Desk", Role.STAFF),
]
RULE = "=" * 64


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
            lines = sign_in_lines(sign_ins, password)
            write_sign_ins(lines)
            self.stdout.write(self.style.SUCCESS(RULE))
            for line in lines:
                self.stdout.write(line)
            self.stdout.write(self.style.SUCCESS(RULE))
        call_command("seed_demo", "--if-empty", stdout=self.stdout)


def sign_in_lines(sign_ins: list[tuple[str, str]], password: str) -> list[str]:
    """What the demo sign-ins are, as printed and as kept in var/demo-sign-ins.txt."""
    lines = [
        " Demo sign-ins (kept in var/demo-sign-ins.txt: `python manage.py demo_sign_ins` shows them again)"
    ]
    for (username, _, role), (secret, url) in zip(DEMO_USERS, sign_ins, strict=True):
        lines += [
            f"   {username:<12} {password}   ({role.label})",
            f"      authenticator key {secret}",
            f"      {url}",
        ]
    lines += [
        " Add each key to an authenticator app (or open its otpauth:// link on your phone),",
        " then sign in with the password and the app's 6-digit code.",
    ]
    return lines


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
