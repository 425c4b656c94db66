from django.apps import AppConfig


class JourneysConfig(AppConfig):
    name = "journeys"
    verbose_name = "Journeys"

    def ready(self):
        from django.db.models.signals import post_migrate

        # The shipped "Your story" intake and agreements come back after a flush (never overwriting edits),
        # like nudges' wording: its data migration alone would leave a flushed test database without them.
        post_migrate.connect(_ensure_intake, sender=self, dispatch_uid="journeys.ensure_intake")


def _ensure_intake(*, using="default", **kwargs):
    from django.utils import timezone

    from . import intake_defaults
    from .models import Agreement, Questionnaire, QuestionnaireQuestion, QuestionnaireSection

    if using != "default":
        return
    intake_defaults.install(
        Questionnaire=Questionnaire,
        Section=QuestionnaireSection,
        Question=QuestionnaireQuestion,
        Agreement=Agreement,
        now=timezone.now(),
    )
