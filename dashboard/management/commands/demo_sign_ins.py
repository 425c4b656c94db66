"""Show the demo sign-ins again: what `setup_demo` printed, kept in ``var/demo-sign-ins.txt``.

``--when-up`` (the Procfile's ``signins`` line under `make run`) waits until the web server answers at
``ALLIANCE_SITE_URL``, prints them below the worker's start-up logs, then stays quietly running until
`make run` stops, as honcho needs of every process it starts.
"""

import os
import signal
import time
import urllib.error
import urllib.request
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

FILE_NAME = "demo-sign-ins.txt"
POLL_SECONDS = 0.5


def sign_ins_file() -> Path:
    return Path(settings.VAR_DIR) / FILE_NAME


def write_sign_ins(lines: list[str]) -> Path:
    """Keep the sign-ins where this command finds them, readable by their owner only."""
    path = sign_ins_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write("\n".join(lines) + "\n")
    return path


def server_answers(url: str) -> bool:
    """Whether anything answers HTTP at ``url`` (any status: an error page is an answering server)."""
    try:
        with urllib.request.urlopen(url, timeout=2):  # noqa: S310 — our own development address
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError):
        return False


class Command(BaseCommand):
    help = __doc__
    requires_system_checks: list[str] = []  # it reads a file; the web server runs the checks

    def add_arguments(self, parser):
        parser.add_argument(
            "--when-up",
            action="store_true",
            help="wait for the web server to answer, print, then keep running until stopped (for the Procfile)",
        )

    def handle(self, *args, when_up=False, **options):
        if when_up:
            health = f"{settings.ALLIANCE_SITE_URL}/healthz"
            while not server_answers(health):
                time.sleep(POLL_SECONDS)
            self.stdout.write(f"Alliance CRM is up on {settings.ALLIANCE_SITE_URL}")
        path = sign_ins_file()
        if path.exists():
            self.stdout.write(path.read_text().rstrip("\n"))
        else:
            self.stdout.write(
                f"No demo sign-ins on file ({path}): they are written when `make run` first sets up the demo. "
                "Make your own with `python manage.py createsuperuser`."
            )
        if when_up:
            self.stdout.flush()
            signal.pause()  # honcho stops every process when one ends: wait for its SIGTERM
