from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "alliance_crm.dashboard"
    label = "dashboard"
    verbose_name = "Dashboard"
