"""The Care plan panel on the patient's page: the published plan and any draft of the open (else latest) journey."""

from accounts.permissions import CLINICAL

from ..selectors.blueprints import patient_blueprint_summary


def blueprint_panel_context(request, patient) -> dict:
    """Two queries, whatever the patient's history holds (one when they have no journey)."""
    return {**patient_blueprint_summary(patient), "can_edit": request.user.role in CLINICAL}
