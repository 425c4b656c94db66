"""Transports: email through Django's mail API, SMS through a small pluggable backend.

Every transport raises one of three errors so that the outbox knows what is safe:
``TransientSendError`` — nothing left us, try again later; ``PermanentSendError`` — it will never
go (a bad address); ``AmbiguousSendError`` — it may have left (a timeout after the request was
sent): the nudge becomes ``unknown`` and is never resent blindly.
"""

from __future__ import annotations

import hashlib
import json
import logging
import smtplib
import uuid
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.utils import timezone
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)


class SendError(Exception):
    pass


class TransientSendError(SendError):
    pass


class PermanentSendError(SendError):
    pass


class AmbiguousSendError(SendError):
    pass


def message_id_for(nudge) -> str:
    """A Message-ID derived from the nudge: the same nudge always carries the same id."""
    digest = hashlib.sha256(nudge.dedupe_key.encode()).hexdigest()[:16]
    domain = urlsplit(settings.ALLIANCE_SITE_URL).hostname or "alliance.invalid"
    return f"<nudge-{nudge.pk}-{digest}@{domain}>"


def send_email(*, nudge, to: str, subject: str, text: str, html: str, unsubscribe_url: str) -> str:
    message_id = message_id_for(nudge)
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to],
        reply_to=[settings.CLINIC_REPLY_TO] if settings.CLINIC_REPLY_TO else None,
        headers={
            "Message-ID": message_id,
            "List-Unsubscribe": f"<{unsubscribe_url}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "X-Alliance-Nudge": str(nudge.pk),
        },
    )
    message.attach_alternative(html, "text/html")
    try:
        message.send()
    except smtplib.SMTPRecipientsRefused as error:
        raise PermanentSendError(f"the mail server refused the address: {error}") from error
    except (smtplib.SMTPConnectError, ConnectionRefusedError, smtplib.SMTPHeloError) as error:
        raise TransientSendError(f"could not reach the mail server: {error}") from error
    except smtplib.SMTPResponseException as error:
        if 400 <= error.smtp_code < 500:
            raise TransientSendError(f"the mail server asked us to try later: {error}") from error
        raise PermanentSendError(f"the mail server refused the message: {error}") from error
    except (TimeoutError, smtplib.SMTPServerDisconnected) as error:
        raise AmbiguousSendError(f"the mail server stopped answering mid-send: {error}") from error
    return message_id


# --- SMS ------------------------------------------------------------------------------------------


class BaseSmsBackend:
    """Send one text message; return the provider's id for it. Raise a SendError subclass on failure."""

    def send(self, *, to: str, body: str, reference: str) -> str:
        raise NotImplementedError


class ConsoleSmsBackend(BaseSmsBackend):
    """Logs that a text would go, never what it says or the whole number: logs are not for patient text."""

    def send(self, *, to: str, body: str, reference: str) -> str:
        logger.info("SMS to …%s (%s): %d characters, not sent", to[-4:], reference, len(body))
        return f"console-{uuid.uuid4().hex[:12]}"


class FileSmsBackend(BaseSmsBackend):
    """Development: each text is one JSON line in ``SMS_FILE_PATH/outbox.jsonl``."""

    def __init__(self, path: str | None = None):
        self.path = Path(path or settings.SMS_FILE_PATH)

    def send(self, *, to: str, body: str, reference: str) -> str:
        self.path.mkdir(parents=True, exist_ok=True)
        provider_id = f"file-{uuid.uuid4().hex[:12]}"
        line = json.dumps(
            {
                "id": provider_id,
                "to": to,
                "body": body,
                "reference": reference,
                "at": timezone.now().isoformat(),
            }
        )
        with (self.path / "outbox.jsonl").open("a", encoding="utf-8") as outbox:
            outbox.write(line + "\n")
        return provider_id


def sms_backend() -> BaseSmsBackend:
    return import_string(settings.SMS_BACKEND)()


def send_sms(*, nudge, to: str, text: str) -> str:
    return sms_backend().send(to=to, body=text, reference=f"nudge-{nudge.pk}")
