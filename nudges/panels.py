"""The Messages panel on the patient's page: what the patient wrote back, recent nudges, whether each channel
reaches them, a one-off form. Everyone on the care team sees that a reply came and what it did (an opt-out,
HELP); only clinical roles read its words, as with the patient's check-in answers."""

from django.conf import settings
from django.utils import timezone

from accounts.permissions import CLINICAL

from . import selectors
from .forms import OneOffMessageForm

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
