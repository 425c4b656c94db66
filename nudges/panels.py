"""The Messages panel on the patient's page: recent nudges, whether each channel reaches them, a one-off form."""

from django.conf import settings

from . import selectors
from .forms import OneOffMessageForm

RECENT = 20


def messages_panel_context(request, patient) -> dict:
    """A fixed number of queries, whatever the patient's history holds (one, for the recent nudges)."""
    reach = selectors.patient_reach(patient)
    return {
        "nudges": selectors.patient_messages(patient, limit=RECENT),
        "recent": RECENT,
        "reach": reach,
        "reachable": any(r.allowed for r in reach),
        "form": OneOffMessageForm(patient=patient),
        "clinic_time_zone": settings.TIME_ZONE,
    }
