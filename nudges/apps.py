from django.apps import AppConfig


class NudgesConfig(AppConfig):
    name = "nudges"
    verbose_name = "Nudges (email and SMS follow-ups)"

    def ready(self):
        from django.db.models.signals import post_migrate

        from patients.panels import Panel, register_panel

        from . import checks  # noqa: F401 — registers the start-up checks
        from .panels import messages_panel_context

        # Shipped wording and rules are recreated after every migrate and flush (never overwriting edits).
        post_migrate.connect(_ensure_defaults, sender=self, dispatch_uid="nudges.ensure_defaults")
        register_panel(
            Panel(
                key="messages",
                title="Messages",
                order=20,
                template_name="nudges/_patient_panel.html",
                context=messages_panel_context,
            )
        )


def _ensure_defaults(*, using="default", **kwargs):
    from .defaults import ensure_defaults

    ensure_defaults(using=using)
