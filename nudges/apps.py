from django.apps import AppConfig


class NudgesConfig(AppConfig):
    name = "nudges"
    verbose_name = "Nudges (email and SMS follow-ups)"

    def ready(self):
        from django.db.models.signals import post_migrate

        from . import checks  # noqa: F401 — its @register decorators add the start-up checks

        # Shipped wording and rules are recreated after every migrate and flush (never overwriting edits).
        post_migrate.connect(_ensure_defaults, sender=self, dispatch_uid="nudges.ensure_defaults")


def _ensure_defaults(*, using="default", **kwargs):
    from .defaults import ensure_defaults

    ensure_defaults(using=using)
