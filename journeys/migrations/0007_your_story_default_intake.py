"""Ship the warm default *Your story* intake questionnaire (version 1, published) and the clinic's agreements."""

from django.db import migrations
from django.utils import timezone

from journeys import intake_defaults


def install(apps, schema_editor):
    intake_defaults.install(
        Questionnaire=apps.get_model("journeys", "Questionnaire"),
        Section=apps.get_model("journeys", "QuestionnaireSection"),
        Question=apps.get_model("journeys", "QuestionnaireQuestion"),
        Agreement=apps.get_model("journeys", "Agreement"),
        now=timezone.now(),
    )


class Migration(migrations.Migration):
    dependencies = [("journeys", "0006_intake_questionnaires")]

    operations = [migrations.RunPython(install, migrations.RunPython.noop)]
