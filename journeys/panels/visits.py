"""The Visits panel on the patient's page: upcoming bookings, recent visits, a way to book the next one."""

from django.conf import settings

from ..selectors.visits import patient_visits


def visits_panel_context(request, patient) -> dict:
    """Two queries, whatever the patient's history holds (upcoming, recent)."""
    visits = patient_visits(patient)
    return {
        "upcoming": visits["upcoming"],
        "recent": visits["recent"],
        "clinic_time_zone": settings.TIME_ZONE,
        "reads_notes": request.user.can_read_clinical,
    }
