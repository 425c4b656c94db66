"""The Messages panel on the patient's page: what the patient wrote back, recent nudges, whether each channel
reaches them, a one-off form; and the Conversation tab. Everyone sees that a reply came and what it did (an
opt-out, HELP); its words are read by clinical roles and by the patient's own care team
(``selectors.reads_patient_words``): what the patient wrote to the clinic, never a visit note."""

from django.conf import settings
from django.utils import timezone

from . import rows, selectors, services
from .forms import ConversationReplyForm, OneOffMessageForm

RECENT = 20


def messages_panel_context(request, patient) -> dict:
    """A fixed number of queries, whatever the patient's history holds (one each for replies and nudges,
    one for the check-in requests to come)."""
    reach = selectors.patient_reach(patient)
    clinical = selectors.reads_patient_words(request.user, patient)
    now = timezone.now()
    replies = selectors.patient_replies(patient, clinical=clinical, limit=RECENT)
    nudges = selectors.patient_messages(patient, limit=RECENT, now=now)
    return {
        "replies": replies,
        "replies_html": rows.patient_reply_items(
            replies, time_zone=patient.time_zone, clinic_time_zone=settings.TIME_ZONE, reads_replies=clinical
        ),
        "reads_replies": clinical,
        "nudges": nudges,
        "nudges_html": rows.patient_message_items(
            nudges, time_zone=patient.time_zone, clinic_time_zone=settings.TIME_ZONE
        ),
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
    reads_words = selectors.reads_patient_words(request.user, patient)
    entries = selectors.conversation(patient, user=request.user, reads_words=reads_words, now=now)
    services.conversation_mark_read(patient=patient, user=request.user, now=now)
    reach = selectors.patient_reach(patient)
    held = selectors.quiet_hours_delay(patient, now)
    return {
        "entries": entries,
        "reads_words": reads_words,
        "unread": sum(entry.unread for entry in entries),
        "form": ConversationReplyForm(patient=patient),
        "reach": reach,
        "reachable": any(r.allowed for r in reach),
        "held_until": held,
        "clinic_time_zone": settings.TIME_ZONE,
    }
