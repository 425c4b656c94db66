from django.apps import AppConfig


class NudgesConfig(AppConfig):
    name = "nudges"
    verbose_name = "Nudges (email and SMS follow-ups)"

    def ready(self):
        from patients.panels import Panel, register_panel

        from . import checks  # noqa: F401 — registers the start-up checks
        from .panels import messages_panel_context

        register_panel(
            Panel(
                key="messages",
                title="Messages",
                order=20,
                template_name="nudges/_patient_panel.html",
                context=messages_panel_context,
            )
        )
