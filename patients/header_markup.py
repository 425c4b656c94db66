"""The patient page's header (breadcrumb, name, legal name and birthday, its buttons), written in Python:
``patients/_patient_header.html``'s markup byte for byte (``tests/patients/test_header_markup.py`` holds it to
the template), every text escaped. Every patient page writes it; its template's URL tags and lookups cost
more than the rest of the header."""

from __future__ import annotations

from django.utils.safestring import SafeString, mark_safe

from accounts.dates import day_month_year
from accounts.links import url_for, url_for_id
from accounts.markup import escaped

from .models import Patient

_HEADER = (
    '<nav aria-label="breadcrumb">\n  <ol class="breadcrumb">\n    <li class="breadcrumb-item">\n'
    '      <a href="{patients}">Patients</a>\n    </li>\n'
    '    <li class="breadcrumb-item active" aria-current="page">{name}</li>\n  </ol>\n</nav>\n'
    '<header class="d-flex flex-wrap justify-content-between align-items-start gap-2 mb-3">\n  <div>\n'
    '    <h1 class="page-title h3 mb-1">\n      {name}\n      {pronouns}\n      {archived}\n    </h1>\n'
    '    <div class="text-body-secondary">\n      {legal}\n      {born}\n    </div>\n  </div>\n'
    '  <div class="d-flex gap-2">\n    <a class="btn btn-outline-primary" href="{edit}">Edit details</a>\n'
    "    {fhir}\n"
    '    <form method="post" action="{archive}">\n'
    '      <input type="hidden" name="csrfmiddlewaretoken" value="{token}">\n      {toggle}\n    </form>\n'
    "  </div>\n</header>\n"
)
_FHIR = (
    '\n      <a class="btn btn-outline-secondary"\n         href="{}"\n'
    '         title="The whole record, notes included, as a FHIR R4 Bundle (audited)">Download FHIR</a>\n    '
)
_RESTORE = (
    '\n        <input type="hidden" name="archived" value="no">\n'
    '        <button type="submit" class="btn btn-outline-secondary">Restore</button>\n      '
)
_ARCHIVE = (
    '\n        <input type="hidden" name="archived" value="yes">\n'
    '        <button type="submit" class="btn btn-outline-secondary">Archive</button>\n      '
)


def patient_header_html(patient: Patient, *, user, csrf_token: str) -> SafeString:
    """What ``patients/_patient_header.html`` writes for ``patient``, seen by ``user`` (an admin also gets the
    FHIR download), its archive form carrying ``csrf_token``."""
    born = patient.date_of_birth
    html = _HEADER.format(
        patients=escaped(url_for("patients:list")),
        name=escaped(patient.display_name),
        pronouns=f'<span class="fs-6 text-body-secondary">({escaped(patient.pronouns)})</span>'
        if patient.pronouns
        else "",
        archived='<span class="badge text-bg-secondary align-middle">Archived</span>'
        if patient.archived
        else "",
        legal=f"Legal name {escaped(patient.legal_name)}{' ·' if born else ''}"
        if patient.preferred_name
        else "",
        born=f"Born {day_month_year(born)}" if born else "",
        edit=escaped(url_for_id("patients:edit", patient.pk)),
        fhir=_FHIR.format(escaped(url_for_id("fhir_patient_export", patient.pk))) if user.is_admin else "",
        archive=escaped(url_for_id("patients:archive", patient.pk)),
        token=escaped(csrf_token),
        toggle=_RESTORE if patient.archived else _ARCHIVE,
    )
    return mark_safe(html)  # noqa: S308 — every text above is escaped, a URL of an id or a constant
