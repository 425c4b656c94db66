"""The admin's FHIR download of one patient's record (the patient page links to it)."""

from __future__ import annotations

import json

from django.http import HttpResponse
from django.views.decorators.http import require_GET

from accounts.models import Role
from accounts.permissions import role_required
from patients.selectors import patient_get_for

from .fhir import patient_bundle
from .services import fhir_export_record


@require_GET
@role_required(Role.ADMIN)
def patient_fhir(request, pk: int):
    """Admins only: the whole record, notes included, as a FHIR R4 Bundle; audited as an export."""
    patient = patient_get_for(user=request.user, pk=pk, action="export")
    fhir_export_record(patient_ids=[patient.pk], what="FHIR R4 Bundle (patient page)")
    bundle = patient_bundle(patient_id=patient.pk, clinical=True)
    response = HttpResponse(
        json.dumps(bundle, ensure_ascii=False, indent=1), content_type="application/fhir+json; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="patient-{patient.pk}-fhir.json"'
    return response
