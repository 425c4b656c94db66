"""The clinic's one settings row, with the defaults, so that no page has to create it on a read."""

from django.db import migrations


def create_row(apps, schema_editor):
    ClinicSettings = apps.get_model("compliance", "ClinicSettings")
    ClinicSettings.objects.using(schema_editor.connection.alias).get_or_create(pk=1)


class Migration(migrations.Migration):
    dependencies = [("compliance", "0001_initial")]

    operations = [migrations.RunPython(create_row, migrations.RunPython.noop)]
