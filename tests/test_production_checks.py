"""Production cannot fake delivery: ``check --deploy`` (and start-up) fails on pretend transports or links to
this machine, unless the deployment says it is a demo. Each case runs manage.py in a fresh process."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# What .ci/run passes: production-like, nothing real behind it.
PRODUCTION = {
    "DJANGO_DEBUG": "false",
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
    "DJANGO_ALLOWED_HOSTS": "crm.clinic.example",
    "ALLIANCE_SITE_URL": "https://crm.clinic.example",
    "CLINIC_PHONE": "(312) 555-0100",
    "DJANGO_EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
    "SMS_BACKEND": "nudges.twilio.TwilioSmsBackend",
    "TWILIO_ACCOUNT_SID": "AC00000000000000000000000000000000",
    "TWILIO_AUTH_TOKEN": "not-a-real-token",
    "TWILIO_FROM_NUMBER": "+15005550006",
}


def check_deploy(tmp_path, *, fail_level: str = "WARNING", **env) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(
            ("DJANGO_", "DATABASE_", "CELERY_", "ALLIANCE_", "SMS_", "TWILIO_", "EMAIL_", "CLINIC_")
        )
    }
    clean |= {"DJANGO_SETTINGS_MODULE": "alliance_crm.settings", "ALLIANCE_VAR_DIR": str(tmp_path)}
    clean |= {k: v for k, v in env.items() if v is not None}
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", fail_level],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_values_like_ci_pass_without_a_word(tmp_path):
    result = check_deploy(tmp_path, **PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout
    for word in ("WARNINGS", "ERRORS", "?:"):
        assert word not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"SMS_BACKEND": "nudges.channels.ConsoleSmsBackend"}, "nudges.E004"),
        ({"SMS_BACKEND": "nudges.channels.FileSmsBackend"}, "nudges.E004"),
        ({"SMS_BACKEND": None}, "nudges.E002"),  # no default in production: it must be chosen
        ({"DJANGO_EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}, "nudges.E003"),
        ({"DJANGO_EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend"}, "nudges.E003"),
        ({"DJANGO_EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend"}, "nudges.E003"),
        ({"DJANGO_EMAIL_BACKEND": "nudges.devmail.ReadableFileEmailBackend"}, "nudges.E003"),
        ({"ALLIANCE_SITE_URL": "http://127.0.0.1:8000"}, "nudges.E005"),
        ({"ALLIANCE_SITE_URL": "https://localhost"}, "nudges.E005"),
        ({"ALLIANCE_SITE_URL": "http://[::1]:8000"}, "nudges.E005"),
        ({"ALLIANCE_SITE_URL": None}, "nudges.E005"),  # no default in production either
        ({"ALLIANCE_SITE_URL": "http://crm.clinic.example"}, "nudges.W001"),
        ({"CLINIC_PHONE": None}, "nudges.W002"),  # HELP answers would give no number
    ],
    ids=lambda value: str(value),
)
def test_a_pretend_transport_or_a_local_link_fails_the_deploy_check(tmp_path, change, code):
    result = check_deploy(tmp_path, **(PRODUCTION | change))
    assert result.returncode != 0
    assert code in result.stderr, result.stderr


def test_production_with_nothing_chosen_names_what_is_missing(tmp_path):
    bare = {k: PRODUCTION[k] for k in ("DJANGO_DEBUG", "DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS")}
    result = check_deploy(tmp_path, fail_level="ERROR", **bare)
    assert result.returncode != 0
    assert "nudges.E002" in result.stderr and "nudges.E005" in result.stderr
    assert "Console" not in result.stderr, "there is no console SMS default left to fall back on"


def test_a_demo_deployment_may_use_pretend_transports_and_local_links(tmp_path):
    demo = PRODUCTION | {
        "ALLIANCE_DEMO_DEPLOYMENT": "true",
        "SMS_BACKEND": "nudges.channels.ConsoleSmsBackend",
        "DJANGO_EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend",
        "ALLIANCE_SITE_URL": "http://127.0.0.1:8000",
    }
    result = check_deploy(tmp_path, **demo)
    assert result.returncode == 0, result.stderr


def test_startup_fails_too_not_only_the_deploy_check(tmp_path):
    """``migrate`` runs the same checks before it touches the database (compose starts nothing until it ends)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(
            ("DJANGO_", "DATABASE_", "CELERY_", "ALLIANCE_", "SMS_", "TWILIO_", "EMAIL_", "CLINIC_")
        )
    }
    env |= PRODUCTION | {
        "DJANGO_SETTINGS_MODULE": "alliance_crm.settings",
        "ALLIANCE_VAR_DIR": str(tmp_path),
        "SMS_BACKEND": "nudges.channels.ConsoleSmsBackend",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "nudges.E004" in result.stderr
    assert not (tmp_path / "alliance.sqlite3").exists() or "Applying" not in result.stdout
