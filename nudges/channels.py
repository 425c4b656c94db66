"""Transports: email through Django's mail API, SMS through a small pluggable backend.

What a failure means decides what the outbox may do next, so every transport says it explicitly:

- ``NotSent`` — proof that nothing left us: the connection was refused or timed out while connecting,
  the name did not resolve, the server hung up before the message was handed over, or the provider
  answered with a refusal it documents as "not accepted". Safe to try again: ``TransientSendError``
  (with backoff) or ``PermanentSendError`` (it never will go: a refused address) — both are ``NotSent``.
- ``AmbiguousSendError`` — the message may have left (no answer after it was handed over, a server
  error after the provider took the request). The nudge becomes ``unknown`` and is never resent blindly.

Any other exception out of a transport is treated as ambiguous too: only proof makes a retry safe.
"""

from __future__ import annotations

import hashlib
import json
import logging
import smtplib
import uuid
from contextlib import suppress
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, mailers
from django.utils import timezone
from django.utils.module_loading import import_string

from . import tokens

logger = logging.getLogger(__name__)


class SendError(Exception):
    pass


class NotSent(SendError):
    """Nothing left us: the outbox may try again (``PermanentSendError``: it knows a retry is pointless)."""


class TransientSendError(NotSent):
    pass


class PermanentSendError(NotSent):
    pass


class AmbiguousSendError(SendError):
    pass


def message_id_for(nudge) -> str:
    """A Message-ID derived from the nudge: the same nudge always carries the same id."""
    digest = hashlib.sha256(nudge.dedupe_key.encode()).hexdigest()[:16]
    domain = urlsplit(settings.ALLIANCE_SITE_URL).hostname or "alliance.invalid"
    return f"<nudge-{nudge.pk}-{digest}@{domain}>"


def reply_to_for(nudge) -> list[str] | None:
    """Where the patient's reply goes: with ``INBOUND_EMAIL_DOMAIN`` set, an address of this very message
    (``reply+<nudge>-<proof>@domain``), so a reply comes back through the inbound webhook threaded with it;
    else the clinic's ``CLINIC_REPLY_TO``, if any."""
    if settings.INBOUND_EMAIL_DOMAIN:
        return [f"reply+{tokens.reply_token(nudge_id=nudge.pk)}@{settings.INBOUND_EMAIL_DOMAIN}"]
    return [settings.CLINIC_REPLY_TO] if settings.CLINIC_REPLY_TO else None


class _DataWatch:
    """Notes whether an SMTP conversation reached DATA: before it, a failure proves nothing was handed over."""

    def __init__(self, backend):
        self.reached_data = False
        smtp = getattr(backend, "connection", None)
        if isinstance(smtp, smtplib.SMTP):
            data = smtp.data

            def watched_data(msg):
                self.reached_data = True
                return data(msg)

            smtp.data = watched_data
        else:
            self.reached_data = True  # not SMTP: no way to know how far it got


def _smtp_refusal(error: smtplib.SMTPResponseException) -> NotSent:
    """The server answered with a code: it did not take the message (4xx: not now, 5xx: never)."""
    if 400 <= error.smtp_code < 500:
        return TransientSendError(f"the mail server asked us to try later: {error}")
    return PermanentSendError(f"the mail server refused the message: {error}")


def send_email(*, nudge, to: str, subject: str, text: str, html: str, unsubscribe_url: str) -> str:
    message_id = message_id_for(nudge)
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to],
        reply_to=reply_to_for(nudge),
        headers={
            "Message-ID": message_id,
            "List-Unsubscribe": f"<{unsubscribe_url}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "X-Alliance-Nudge": str(nudge.pk),
        },
    )
    message.attach_alternative(html, "text/html")
    backend = mailers.default
    try:
        # Connecting (TCP, greeting, EHLO, STARTTLS, login) hands nothing over: any failure here is NotSent.
        backend.open()
    except smtplib.SMTPResponseException as error:
        raise TransientSendError(f"could not reach the mail server: {error}") from error
    except OSError as error:  # refused, unknown host, connect timeout, TLS, SMTPException (an OSError)
        raise TransientSendError(
            f"could not reach the mail server: {type(error).__name__}: {error}"
        ) from error
    try:
        watch = _DataWatch(backend)
        try:
            backend.send_messages([message])
        except smtplib.SMTPRecipientsRefused as error:
            raise PermanentSendError(f"the mail server refused the address: {error}") from error
        except smtplib.SMTPResponseException as error:
            raise _smtp_refusal(error) from error
        except OSError as error:  # a timeout or hang-up: proof of nothing only if DATA was never sent
            if not watch.reached_data:
                raise TransientSendError(
                    f"the mail server hung up before the message was sent: {type(error).__name__}: {error}"
                ) from error
            raise AmbiguousSendError(
                f"the mail server stopped answering after the message was handed over, so it may have "
                f"gone: {type(error).__name__}: {error}"
            ) from error
    finally:
        with suppress(Exception):  # the message's fate is settled; a failing QUIT changes nothing
            backend.close()
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
