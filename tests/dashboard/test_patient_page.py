"""The patient page at /patients/<pk>/: the dashboard composes it from every app's panels, in its order."""

import pytest
from django.urls import resolve

from dashboard.views import PATIENT_PANELS, PATIENT_RECORD, patient_detail
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


def test_the_patient_page_is_the_dashboards():
    match = resolve("/patients/1/")
    assert (match.func, match.view_name) == (patient_detail, "dashboard:patient")
    assert PatientFactory.build(pk=1).get_absolute_url() == "/patients/1/"


def test_the_page_shows_the_record_then_every_panel_in_the_order_listed(client_for, staff):
    patient = PatientFactory()

    body = client_for(staff).get(f"/patients/{patient.pk}/").content.decode()

    panels = [*PATIENT_RECORD, *PATIENT_PANELS]
    assert len({panel.key for panel in panels}) == len(panels)
    positions = [
        body.index(f'<h2 id="{panel.key}-heading" class="h5">{panel.title}</h2>') for panel in panels
    ]
    assert positions == sorted(positions)
