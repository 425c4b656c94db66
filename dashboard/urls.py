from django.urls import path

from . import views

app_name = "dashboard"

urlpatterns = [
    path("", views.today, name="today"),
    path("pipeline/", views.pipeline, name="pipeline"),
    path("insights/", views.insights, name="insights"),
    path("patients/<int:pk>/", views.patient_detail, name="patient"),
    path("patients/<int:pk>/panels/<slug:key>/", views.patient_panel, name="patient_panel"),
]
