"""Public endpoints that SMS providers call. Each proves its caller by the provider's signature.

An automatic answer (the opt-out confirmation, HELP, START) goes back as the TwiML reply to the very
message that asked for it: Twilio sends it, and nothing of it passes through the outbox or its consent checks.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import time

from django.conf import settings
from django.http import HttpResponse, HttpResponseForbidden
from django.utils.html import escape
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from . import services
from .twilio import validate_twilio_signature

logger = logging.getLogger(__name__)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
# What Twilio sends as From for a phone: E.164. Anything else (a NUL, which PostgreSQL cannot even
# compare, a name, 1 MB of text) matches no patient and is answered like an unknown number.
E164 = re.compile(r"\+[1-9][0-9]{1,14}")


@csrf_exempt  # Twilio posts without a CSRF token; its X-Twilio-Signature is the proof
@require_POST
def twilio_inbound_sms(request):
    # Twilio signs the URL it was told to call. Behind a proxy or load balancer the host and scheme this
    # request arrived with can differ from that public URL, so rebuild it from ALLIANCE_SITE_URL.
    url = settings.ALLIANCE_SITE_URL + request.get_full_path()
    if not validate_twilio_signature(
        url=url,
        params=request.POST,
        signature=request.headers.get("X-Twilio-Signature", ""),
        auth_token=settings.TWILIO_AUTH_TOKEN,
    ):
        logger.warning("refused an inbound SMS webhook with a missing or wrong Twilio signature")
        return HttpResponseForbidden()
    reply = ""
    from_number = request.POST.get("From", "")
    if E164.fullmatch(from_number):
        outcome = services.sms_inbound(
            from_number=from_number,
            body=request.POST.get("Body", "").replace("\x00", ""),
            provider_id=request.POST.get("MessageSid", ""),
        )
        reply = outcome.reply
    return HttpResponse(twiml(reply), content_type="text/xml")


def twiml(reply: str) -> str:
    """Twilio's answer: empty, or one <Message> that Twilio sends back to the patient as the reply."""
    if not reply:
        return EMPTY_TWIML
    return f'<?xml version="1.0" encoding="UTF-8"?><Response><Message>{escape(reply)}</Message></Response>'


# --- Email replies --------------------------------------------------------------------------------
#
# Why not django-anymail's inbound support: its current wheel (15.2) declares Django up to 6.0, not 6.1, and
# this needs one provider's one signed format. The format is Mailgun's inbound route ("store and notify" or
# "forward"): form fields recipient, sender, subject, body-plain, stripped-text, Message-Id, and a proof —
# timestamp, token, and signature = HMAC-SHA256(webhook signing key, timestamp + token).

SIGNATURE_MAX_AGE_SECONDS = 300
BODY_MAX = 20_000


def email_signature_valid(*, timestamp: str, token: str, signature: str, secret: str, now: float) -> bool:
    """Whether the post carries the provider's proof: a fresh timestamp and an HMAC made with ``secret``."""
    if not (secret and timestamp and token and signature) or not timestamp.isdigit():
        return False
    if abs(now - int(timestamp)) > SIGNATURE_MAX_AGE_SECONDS:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature.lower())


@csrf_exempt  # the provider posts without a CSRF token; its HMAC signature is the proof
@require_POST
def email_inbound(request):
    post = request.POST
    if not email_signature_valid(
        timestamp=post.get("timestamp", ""),
        token=post.get("token", ""),
        signature=post.get("signature", ""),
        secret=settings.INBOUND_EMAIL_SECRET,
        now=time.time(),
    ):
        logger.warning("refused an inbound email webhook with a missing, stale or wrong signature")
        return HttpResponseForbidden()
    text = post.get("stripped-text") or post.get("body-plain") or ""
    services.email_inbound(
        recipient=post.get("recipient", "")[:1000],
        sender=post.get("sender", "") or post.get("from", ""),
        subject=post.get("subject", ""),
        text=text.replace("\x00", "")[:BODY_MAX],
        message_id=post.get("Message-Id", "") or post.get("token", ""),
    )
    return HttpResponse("ok", content_type="text/plain")
