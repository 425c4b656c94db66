"""The Messages panel on the patient's page: what the patient wrote back, recent nudges, whether each channel
reaches them, a one-off form. Everyone on the care team sees that a reply came and what it did (an opt-out,
HELP); only clinical roles read its words, as with the patient's check-in answers."""

from django.conf import settings
from django.utils import timezone

from accounts.permissions import CLINICAL

from . import selectors, services
from .forms import ConversationReplyForm, OneOffMessageForm

RECENT = 20


def messages_panel_context(request, patient) -> dict:
    """A fixed number of queries, whatever the patient's history holds (one each for replies and nudges,
    two for the check-in requests to come)."""
    reach = selectors.patient_reach(patient)
    clinical = request.user.role in CLINICAL
    now = timezone.now()
    return {
        "replies": selectors.patient_replies(patient, clinical=clinical, limit=RECENT),
        "reads_replies": clinical,
        "nudges": selectors.patient_messages(patient, limit=RECENT, now=now),
        "scheduled_requests": selectors.patient_scheduled_requests(patient, now=now),
        "recent": RECENT,
        "reach": reach,
        "reachable": any(r.allowed for r in reach),
        "form": OneOffMessageForm(patient=patient),
        "clinic_time_zone": settings.TIME_ZONE,
    }


def conversation_panel_context(request, patient) -> dict:
    """The patient's conversation, oldest first, and the reply form saying when a reply would go. Opening it
    marks it read for this person (audited). Five queries, whatever the history holds."""
    now = timezone.now()
    entries = selectors.conversation(patient, user=request.user, now=now)
    services.conversation_mark_read(patient=patient, user=request.user, now=now)
    reach = selectors.patient_reach(patient)
    held = selectors.quiet_hours_delay(patient, now)
    return {
        "entries": entries,
        "unread": sum(entry.unread for entry in entries),
        "form": ConversationReplyForm(patient=patient),
        "reach": reach,
        "reachable": any(r.allowed for r in reach),
        "held_until": held,
        "clinic_time_zone": settings.TIME_ZONE,
    }
