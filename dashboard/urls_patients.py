"""/patients/: the patients app's own pages, and the patient list and its CSV download, which show each
patient's journey stage and so live here, above journeys. The namespace stays ``patients``."""

from django.urls import path

from patients import urls as patient_urls

from . import patient_list

app_name = "patients"

urlpatterns = [
    path("", patient_list.patient_list, name="list"),
    path("export.csv", patient_list.patient_list_csv, name="export"),
    *patient_urls.urlpatterns,
]
