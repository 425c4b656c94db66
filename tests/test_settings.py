"""Settings resolve from the environment alone; production refuses to start half-configured."""

import json
import os
import subprocess
import sys
from pathlib import Path

import environ

ROOT = Path(__file__).resolve().parent.parent

PRINT_SETTINGS = """
import json, django
from django.conf import settings
django.setup()
print(json.dumps({
    "engine": settings.DATABASES["default"]["ENGINE"],
    "name": str(settings.DATABASES["default"]["NAME"]),
    "host": settings.DATABASES["default"].get("HOST", ""),
    "broker": settings.CELERY_BROKER_URL,
    "broker_options": settings.CELERY_BROKER_TRANSPORT_OPTIONS,
    "debug": settings.DEBUG,
    "ssl_redirect": getattr(settings, "SECURE_SSL_REDIRECT", False),
    "session_secure": settings.SESSION_COOKIE_SECURE,
    "csrf_secure": settings.CSRF_COOKIE_SECURE,
    "hsts": settings.SECURE_HSTS_SECONDS,
    "site_url": settings.ALLIANCE_SITE_URL,
    "conn": [settings.DATABASES["default"]["CONN_MAX_AGE"], settings.DATABASES["default"]["CONN_HEALTH_CHECKS"]],
}))
"""


def run_settings(tmp_path, **env):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "CELERY_"))}
    clean |= {"DJANGO_SETTINGS_MODULE": "alliance_crm.settings", "ALLIANCE_VAR_DIR": str(tmp_path)} | env
    return subprocess.run(
        [sys.executable, "-c", PRINT_SETTINGS],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_debug_is_off_unless_the_environment_turns_it_on(tmp_path):
    refused = run_settings(tmp_path)
    assert refused.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in refused.stderr

    result = run_settings(tmp_path, DJANGO_SECRET_KEY="x" * 60, DJANGO_ALLOWED_HOSTS="crm.clinic.example")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["debug"] is False


def test_development_defaults_need_no_server(tmp_path):
    result = run_settings(tmp_path, DJANGO_DEBUG="true")
    assert result.returncode == 0, result.stderr
    resolved = json.loads(result.stdout)
    assert resolved["engine"] == "django.db.backends.sqlite3"
    assert resolved["name"] == str(tmp_path / "alliance.sqlite3")
    assert resolved["broker"] == "filesystem://"
    assert resolved["broker_options"]["data_folder_in"].startswith(str(tmp_path))
    assert resolved["debug"] is True


def test_the_suite_runs_under_development_settings(settings):
    """pytest-env turns DEBUG on before the settings read it (pytest-django then runs each test with it off)."""
    assert environ.Env().bool("DJANGO_DEBUG") is True
    assert (
        settings.STORAGES["staticfiles"]["BACKEND"] == "django.contrib.staticfiles.storage.StaticFilesStorage"
    )
    assert settings.SECURE_SSL_REDIRECT is False


def test_postgresql_and_redis_come_from_the_environment(tmp_path):
    result = run_settings(
        tmp_path,
        DJANGO_DEBUG="true",
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/clinic",
        CELERY_BROKER_URL="redis://127.0.0.1:6379/3",
    )
    assert result.returncode == 0, result.stderr
    resolved = json.loads(result.stdout)
    assert resolved["engine"] == "django.db.backends.postgresql"
    assert resolved["name"] == "clinic"
    assert resolved["host"] == "127.0.0.1"
    assert resolved["broker"] == "redis://127.0.0.1:6379/3"
    assert resolved["broker_options"] == {}, "filesystem options must not leak into another broker"
    assert resolved["conn"] == [0, False]  # a connection a request


def test_a_reused_database_connection_is_tested_before_a_request_uses_it(tmp_path):
    result = run_settings(
        tmp_path,
        DJANGO_DEBUG="true",
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/clinic",
        DATABASE_CONN_MAX_AGE="60",
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["conn"] == [60, True]


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    result = run_settings(tmp_path, DJANGO_DEBUG="false", DJANGO_ALLOWED_HOSTS="crm.clinic.example")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr


def test_production_refuses_to_start_without_allowed_hosts(tmp_path):
    result = run_settings(tmp_path, DJANGO_DEBUG="false", DJANGO_SECRET_KEY="x" * 60)
    assert result.returncode != 0
    assert "DJANGO_ALLOWED_HOSTS must be set" in result.stderr


def test_production_turns_on_secure_cookies_hsts_and_ssl_redirect(tmp_path):
    result = run_settings(
        tmp_path,
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY="x" * 60,
        DJANGO_ALLOWED_HOSTS="crm.clinic.example",
    )
    assert result.returncode == 0, result.stderr
    resolved = json.loads(result.stdout)
    assert resolved["debug"] is False
    assert resolved["ssl_redirect"] is True
    assert resolved["session_secure"] is True
    assert resolved["csrf_secure"] is True
    assert resolved["hsts"] >= 31536000


def test_env_example_documents_every_variable_the_settings_read():
    settings_source = (ROOT / "alliance_crm" / "settings.py").read_text()
    documented = (ROOT / ".env.example").read_text()
    import re

    read = set(re.findall(r'env\.\w+\(\s*"([A-Z_]+)"', settings_source))
    assert read, "settings read no variables?"
    missing = sorted(name for name in read if name not in documented)
    assert not missing, f".env.example does not document: {missing}"
