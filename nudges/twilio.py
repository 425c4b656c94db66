"""Twilio: send a text through its REST API, and check that an inbound webhook really came from Twilio.

Only the standard library is used. What a failure means for the outbox follows ``channels``:

- nothing reached Twilio (refused connection, unknown host, a timeout while connecting or writing the
  request — urllib wraps exactly these in ``URLError``): ``TransientSendError``, retried with backoff;
- Twilio answered 4xx: its API documents that a 4xx on "create a message" creates no message, so nothing
  left. A refusal about the recipient (an invalid or unreachable number, one that replied STOP) is
  ``PermanentSendError`` with Twilio's words; any other 4xx (401 credentials, 404, 429 too many requests,
  …) is ``TransientSendError``;
- 503 ("temporarily unable to service the request, try again later"): ``TransientSendError``;
- any other 5xx, no answer after the request went out, or a reply without a message sid:
  ``AmbiguousSendError``, because Twilio may have taken the message (500 is "couldn't return the
  representation", not "didn't create it").
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from .channels import AmbiguousSendError, BaseSmsBackend, PermanentSendError, TransientSendError

DEFAULT_TIMEOUT_SECONDS = 20.0
# Twilio error codes that say this message can never go to this recipient.
RECIPIENT_REFUSED = {
    21211,  # invalid 'To' phone number
    21214,  # 'To' phone number cannot be reached
    21217,  # phone number does not appear to be valid
    21610,  # the recipient replied STOP (unsubscribed)
    21612,  # the 'To' number is not currently reachable via SMS
    21614,  # 'To' number is not a valid mobile number
}


class TwilioSmsBackend(BaseSmsBackend):
    """POST one message to ``/2010-04-01/Accounts/{sid}/Messages.json`` and return Twilio's message sid."""

    def __init__(self):
        self.account_sid = settings.TWILIO_ACCOUNT_SID
        self.auth_token = settings.TWILIO_AUTH_TOKEN
        self.from_number = settings.TWILIO_FROM_NUMBER
        self.messaging_service_sid = settings.TWILIO_MESSAGING_SERVICE_SID
        self.timeout = float(getattr(settings, "TWILIO_TIMEOUT_SECONDS", None) or DEFAULT_TIMEOUT_SECONDS)
        missing = [
            name
            for name, value in (
                ("TWILIO_ACCOUNT_SID", self.account_sid),
                ("TWILIO_AUTH_TOKEN", self.auth_token),
            )
            if not value
        ]
        if not (self.from_number or self.messaging_service_sid):
            missing.append("TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID")
        if missing:
            raise ImproperlyConfigured(f"The Twilio SMS backend needs {', '.join(missing)} to be set.")
        base = settings.TWILIO_API_BASE.rstrip("/")
        if urllib.parse.urlsplit(base).scheme not in ("http", "https"):
            raise ImproperlyConfigured(f"TWILIO_API_BASE must be an http(s) URL, not “{base}”.")
        sid = urllib.parse.quote(self.account_sid, safe="")
        self.url = f"{base}/2010-04-01/Accounts/{sid}/Messages.json"

    def _request(self, *, to: str, body: str) -> urllib.request.Request:
        fields = {"To": to, "Body": body}
        if self.messaging_service_sid:
            fields["MessagingServiceSid"] = self.messaging_service_sid
        else:
            fields["From"] = self.from_number
        # The Authorization header is set here, not through HTTPBasicAuthHandler: that handler sends the
        # request once without credentials and again after the 401 challenge.
        credentials = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode("ascii")
        return urllib.request.Request(  # noqa: S310 - http(s) only: __init__ checked the scheme
            self.url,
            data=urllib.parse.urlencode(fields).encode(),
            headers={
                "Authorization": f"Basic {credentials}",
                "Accept": "application/json",
                "Content-Type": "application/x-www-form-urlencoded",
            },
            method="POST",
        )

    def send(self, *, to: str, body: str, reference: str) -> str:
        request = self._request(to=to, body=body)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 - as above
                raw = response.read()
        except urllib.error.HTTPError as error:
            raise _refusal(error) from error
        except urllib.error.URLError as error:
            # urllib wraps only what fails while connecting and writing the request: nothing reached Twilio.
            raise TransientSendError(f"could not reach Twilio: {error.reason}") from error
        except (OSError, http.client.HTTPException) as error:
            # The request was written; the reply never came (timeout, dropped connection).
            raise AmbiguousSendError(
                f"Twilio did not answer after the request was sent ({type(error).__name__}: {error})"
            ) from error
        try:
            sid = json.loads(raw)["sid"]
        except (ValueError, KeyError, TypeError) as error:
            raise AmbiguousSendError(
                f"Twilio accepted the message but its reply had no sid: {raw[:200]!r}"
            ) from error
        return str(sid)


def _refusal(error: urllib.error.HTTPError) -> Exception:
    """Turn Twilio's HTTP error into the outbox's kind of failure, keeping Twilio's code and message."""
    try:
        payload = json.loads(error.read() or b"{}")
    except (ValueError, OSError):
        payload = {}
    if not isinstance(payload, dict):
        payload = {}
    code = payload.get("code")
    message = payload.get("message") or error.reason
    text = f"Twilio answered {error.code}" + (f" (error {code})" if code else "") + f": {message}"
    if 400 <= error.code < 500:
        return PermanentSendError(text) if _number(code) in RECIPIENT_REFUSED else TransientSendError(text)
    if error.code == 503:
        return TransientSendError(text)
    return AmbiguousSendError(f"{text} — Twilio may have taken the message")


def _number(code) -> int | None:
    try:
        return int(code)
    except (TypeError, ValueError):
        return None


def twilio_signature(*, url: str, params: Mapping, auth_token: str) -> str:
    """Twilio's X-Twilio-Signature: base64(HMAC-SHA1(token, url + name1 + value1 + name2 + value2 …)),
    the POST parameters sorted by name. A repeated parameter (QueryDict) adds each distinct value, sorted,
    as Twilio's own helper libraries do."""
    payload = url
    for name in sorted(params):
        values = params.getlist(name) if hasattr(params, "getlist") else [params[name]]
        for value in sorted(set(values)):
            payload += f"{name}{value}"
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def validate_twilio_signature(*, url: str, params: Mapping, signature: str, auth_token: str) -> bool:
    """Whether ``signature`` is the one Twilio would send for this URL and these POST parameters."""
    if not auth_token or not signature:
        return False  # with no token, anyone could compute a "valid" signature
    expected = twilio_signature(url=url, params=params, auth_token=auth_token)
    return hmac.compare_digest(expected.encode(), signature.encode())
