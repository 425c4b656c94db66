"""First-run set-up for `make run`: demo sign-ins and demo data, only when the database is empty.

Creates an admin, a practitioner and a staff member when there is no admin yet and prints their
password once (set ``DEMO_PASSWORD`` to choose it), then loads ``seed_demo`` when there is no data.
Running it again changes nothing.
"""

import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import Role

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
            password = os.environ.get("DEMO_PASSWORD") or secrets.token_urlsafe(9)
            with transaction.atomic():
                for username, display_name, role in DEMO_USERS:
                    User.objects.create_user(
                        username=username,
                        email=f"{username}@clinic.invalid",
                        password=password,
                        display_name=display_name,
                        role=role,
                        is_superuser=role == Role.ADMIN,
                    )
            rule = "=" * 64
            self.stdout.write(self.style.SUCCESS(rule))
            self.stdout.write(self.style.SUCCESS(" Demo sign-ins (shown this once: note them now)"))
            for username, _, role in DEMO_USERS:
                self.stdout.write(f"   {username:<12} {password}   ({role.label})")
            self.stdout.write(self.style.SUCCESS(rule))
        call_command("seed_demo", "--if-empty", stdout=self.stdout)
