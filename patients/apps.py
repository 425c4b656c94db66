from django.apps import AppConfig


class PatientsConfig(AppConfig):
    verbose_name = "Patients"
    name = "patients"
