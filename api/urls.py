from django.urls import path

from . import views
from .endpoints import api

urlpatterns = [
    path("api/v1/", api.urls),
    path("patients/<int:pk>/fhir/", views.patient_fhir, name="fhir_patient_export"),
]
