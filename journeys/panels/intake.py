"""The intake questionnaire panel on the patient's page: sent, started or submitted, for every role; the link
to the answers for practitioners and admins only."""

from ..intake_selectors import intake_latest


def intake_panel_context(request, patient) -> dict:
    """One query, whatever the patient's history holds."""
    return {"intake": intake_latest(patient), "reads_answers": request.user.can_read_clinical}
