from django.urls import path

from . import schedule_views, views

app_name = "dashboard"

urlpatterns = [
    path("", views.today, name="today"),
    path("schedule/", schedule_views.schedule, name="schedule"),
    path("pipeline/", views.pipeline, name="pipeline"),
    path("insights/", views.insights, name="insights"),
    path("patients/<int:pk>/", views.patient_detail, name="patient"),
]
