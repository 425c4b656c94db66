"""A trigram index on the patient's folded search text, on PostgreSQL: the list's search is ``LIKE '%term%'``
on ``search_text``, which no b-tree serves, so its capped count read every active patient (64 ms at 100,000
patients, growing with the clinic). ``pg_trgm``'s GIN index answers it from the index. Other databases (SQLite
in development) keep the plain scan: nothing to do there."""

from django.db import migrations

INDEX = "patient_search_text_trigram"


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {INDEX} ON patients_patient USING gin (search_text gin_trgm_ops)"
    )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("patients", "0009_patient_has_lead")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
