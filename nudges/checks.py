"""Start-up checks: a mis-configured transport is reported once, not discovered nudge by nudge.

In production (``DEBUG`` off) nothing may pretend to deliver: a console, file, in-memory or dummy email or
SMS backend, or patients' links pointing at this machine, is an error that stops ``check --deploy``,
``migrate`` and ``runserver`` — unless ``ALLIANCE_DEMO_DEPLOYMENT`` says this deployment is a demo. No SMS
transport at all, or no site address at all, is an error even for a demo.
"""

from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.core.mail import mailers
from django.core.mail.backends.console import EmailBackend as ConsoleEmailBackend
from django.core.mail.backends.dummy import EmailBackend as DummyEmailBackend
from django.core.mail.backends.locmem import EmailBackend as LocmemEmailBackend
from django.utils.module_loading import import_string

LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0", "::"}  # noqa: S104 — names we refuse, not bind
DEMO_HINT = "If this deployment is a demo whose messages must go nowhere, set ALLIANCE_DEMO_DEPLOYMENT=true."


def _production() -> bool:
    return not settings.DEBUG and not settings.ALLIANCE_DEMO_DEPLOYMENT


@register()
def sms_backend_is_configured(app_configs, **kwargs):
    from .channels import sms_backend

    if not settings.SMS_BACKEND:
        return [
            Error(
                "No SMS transport is set (SMS_BACKEND is empty).",
                hint="Set SMS_BACKEND=nudges.twilio.TwilioSmsBackend and the TWILIO_* values. " + DEMO_HINT,
                id="nudges.E002",
            )
        ]
    try:
        sms_backend()
    except Exception as error:  # ImproperlyConfigured, ImportError: say it plainly either way
        return [
            Error(
                f"The SMS transport cannot start: {error}",
                hint="Check SMS_BACKEND and, for Twilio, TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and "
                "TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID.",
                id="nudges.E001",
            )
        ]
    return []


def _sms_backend_class() -> type | None:
    try:
        return import_string(settings.SMS_BACKEND)
    except Exception:  # a backend that does not import is reported by its own check (nudges.E001)
        return None


def _mailer_class(alias: str) -> type | None:
    """The class Django's own mailers handler builds for ``alias``, or None when it cannot be built."""
    try:
        return type(mailers[alias])
    except Exception:  # InvalidMailer and friends: Django reports a mailer that does not build
        return None


@register()
def production_cannot_fake_delivery(app_configs, **kwargs):
    """Console, file, in-memory or dummy transports report success and deliver nothing."""
    if not _production():
        return []
    from .channels import ConsoleSmsBackend, FileSmsBackend

    errors = []
    for alias, mailer in getattr(settings, "MAILERS", {}).items():
        backend = mailer.get("BACKEND", "")
        backend_class = _mailer_class(alias)
        if backend_class is not None and issubclass(
            backend_class, (ConsoleEmailBackend, LocmemEmailBackend, DummyEmailBackend)
        ):
            errors.append(
                Error(
                    f"Email (mailer “{alias}”) goes to {backend}, which delivers nothing to patients.",
                    hint="Set DJANGO_EMAIL_BACKEND to django.core.mail.backends.smtp.EmailBackend (the "
                    "production default) with EMAIL_HOST and friends. " + DEMO_HINT,
                    id="nudges.E003",
                )
            )
    sms_class = _sms_backend_class() if settings.SMS_BACKEND else None
    if sms_class is not None and issubclass(sms_class, (ConsoleSmsBackend, FileSmsBackend)):
        errors.append(
            Error(
                f"SMS goes to {settings.SMS_BACKEND}, which delivers nothing to patients.",
                hint="Set SMS_BACKEND=nudges.twilio.TwilioSmsBackend and the TWILIO_* values. " + DEMO_HINT,
                id="nudges.E004",
            )
        )
    return errors


@register()
def site_url_reaches_patients(app_configs, **kwargs):
    """Unsubscribe and check-in links in every message point at ALLIANCE_SITE_URL."""
    if settings.DEBUG:
        return []
    url = settings.ALLIANCE_SITE_URL
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if not url or parts.scheme not in ("http", "https") or not host:
        problem, hint = ("is not set" if not url else f"is “{url}”, not an http(s) address"), ""
    elif (host in LOCAL_HOSTS or host.endswith(".localhost")) and _production():
        problem, hint = f"is “{url}”, which only this machine can open", " " + DEMO_HINT
    else:
        return []
    return [
        Error(
            f"ALLIANCE_SITE_URL {problem}: the links in patients' messages would not work.",
            hint="Set ALLIANCE_SITE_URL to the dashboard's public address, like https://crm.yourclinic.com."
            + hint,
            id="nudges.E005",
        )
    ]


@register(Tags.security, deploy=True)
def site_url_is_https(app_configs, **kwargs):
    if not _production() or urlsplit(settings.ALLIANCE_SITE_URL).scheme != "http":
        return []
    return [
        Warning(
            "ALLIANCE_SITE_URL is plain http: patients' check-in and unsubscribe links would travel unencrypted.",
            hint="Use the https:// address of the dashboard.",
            id="nudges.W001",
        )
    ]


@register(deploy=True)
def clinic_phone_is_set(app_configs, **kwargs):
    if settings.DEBUG or settings.CLINIC_PHONE:
        return []
    return [
        Warning(
            "CLINIC_PHONE is empty: a patient who texts HELP, or a prospect turned away by the inquiry limit, "
            "is not given a number to call.",
            hint="Set CLINIC_PHONE to the number patients call, like (312) 555-0100.",
            id="nudges.W002",
        )
    ]
