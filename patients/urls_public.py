"""Patients' own public pages, proven by a signed link: no sign-in."""

from django.urls import path

from . import views

urlpatterns = [
    path("consent/confirm/<str:token>/", views.consent_confirm, name="consent_confirm"),
]
