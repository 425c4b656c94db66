"""The patient page's header written in Python (``patients.header_markup.patient_header_html``): byte for
byte what ``patients/_patient_header.html`` writes, with or without pronouns, a preferred name, a birthday,
archived or not, for an admin (the FHIR download) and staff, with hostile text."""

import itertools
from datetime import date

from django.template.loader import render_to_string

from accounts.models import User
from patients.header_markup import patient_header_html
from patients.models import Patient

HOSTILE = "<script>alert('x')</script> \"Quote\" & Sons"


def test_the_header_is_what_its_template_writes():
    compared = 0
    for pronouns, preferred, born, archived, role in itertools.product(
        ["", HOSTILE], ["", HOSTILE], [None, date(1980, 2, 29)], [False, True], ["admin", "staff"]
    ):
        patient = Patient(
            pk=41, first_name=HOSTILE, last_name="Côté & Fils", preferred_name=preferred, pronouns=pronouns,
            date_of_birth=born, archived=archived,
        )  # fmt: skip
        user = User(pk=3, username="u", role=role)
        ours = patient_header_html(patient, user=user, csrf_token="a-token")
        theirs = render_to_string(
            "patients/_patient_header.html", {"patient": patient, "user": user, "csrf_token": "a-token"}
        )
        assert ours == theirs
        assert "<script>" not in ours and ("Download FHIR" in ours) is (role == "admin")
        compared += 1
    assert compared == 32
