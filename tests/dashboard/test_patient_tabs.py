"""The patient page's tabs, rendered by their template once per tab with a marker for the patient's id: the
same markup as ``{% include "dashboard/_patient_tabs.html" %}`` for every tab and patient, each with its own
links, and no query."""

import pytest
from django.db import connection
from django.template.loader import render_to_string
from django.test.utils import CaptureQueriesContext

from dashboard.patient_page import PATIENT_TABS, tabs_html
from journeys.models import Stage
from tests.factories import PatientFactory
from tests.journeys.test_stages import journey_at

pytestmark = pytest.mark.django_db


def included(patient, tab, swap: bool) -> str:
    context = {"tabs": PATIENT_TABS, "tab": tab, "patient": patient}
    return render_to_string("dashboard/_patient_tabs.html", context | ({"swap_tabs": True} if swap else {}))


def test_the_tabs_are_what_their_template_writes_for_each_tab_and_patient(django_assert_num_queries):
    first, second = PatientFactory(), PatientFactory()
    for swap in (False, True):
        for tab in PATIENT_TABS:
            for patient in (first, second, first):  # the second and third are written from the kept rendering
                with django_assert_num_queries(0):
                    html = tabs_html(patient, tab, swap=swap)
                assert html == included(patient, tab, swap)
                other = second if patient is first else first
                assert f"/{patient.pk}/" in html and f"/{other.pk}/" not in html
                assert ('hx-swap-oob="true"' in html) is swap
                assert f'aria-current="true"\n           href="/patients/{patient.pk}/?tab={tab.key}"' in html


def test_the_page_reads_the_clinics_settings_once(client_for, staff, practitioner):
    patient = journey_at(Stage.CHECK_INS, practitioner).patient  # a header with adherence, on the plan tab
    client = client_for(staff)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(f"/patients/{patient.pk}/")
    assert response.status_code == 200
    assert sum('"compliance_clinicsettings"' in query["sql"] for query in queries.captured_queries) == 1
