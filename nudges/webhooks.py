"""Public endpoints that SMS providers call. Each proves its caller by the provider's signature.

An automatic answer (the opt-out confirmation, HELP, START) goes back as the TwiML reply to the very
message that asked for it: Twilio sends it, and nothing of it passes through the outbox or its consent checks.
"""

from __future__ import annotations

import logging
import re

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
