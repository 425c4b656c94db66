from django.apps import AppConfig


class ComplianceConfig(AppConfig):
    name = "compliance"
    verbose_name = "Compliance (check-ins, adherence, alerts)"

    def ready(self):
        from patients.panels import Panel, register_panel

        from .panels_adherence import adherence_panel_context
        from .views_alerts import alerts_panel_context

        register_panel(
            Panel(
                key="alerts",
                title="Alerts and course corrections",
                order=24,
                template_name="compliance/_alerts_panel.html",
                context=alerts_panel_context,
            )
        )

        register_panel(
            Panel(
                key="adherence",
                title="Adherence",
                order=25,
                template_name="compliance/_adherence_panel.html",
                context=adherence_panel_context,
            )
        )
