"""The audit trail becomes a hash chain, learns `list` rows with the ids of the patients shown, and on
PostgreSQL refuses UPDATE and DELETE with a trigger.

Existing rows are chained here in the order they were written (by id), so ``verify_audit`` checks the
whole trail, old rows included. The trigger is created last: the chaining above is the table's last UPDATE.
"""

from django.db import migrations, models

from accounts.chain import GENESIS, row_hash

TRIGGER_SQL = """
CREATE OR REPLACE FUNCTION accounts_accessevent_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'The audit trail is append-only: % on accounts_accessevent is refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER accounts_accessevent_append_only
    BEFORE UPDATE OR DELETE ON accounts_accessevent
    FOR EACH ROW EXECUTE FUNCTION accounts_accessevent_append_only();
"""
DROP_TRIGGER_SQL = """
DROP TRIGGER IF EXISTS accounts_accessevent_append_only ON accounts_accessevent;
DROP FUNCTION IF EXISTS accounts_accessevent_append_only();
"""


def chain_existing_rows(apps, schema_editor):
    AccessEvent = apps.get_model("accounts", "AccessEvent")
    prev_hash, batch = GENESIS, []
    for seq, event in enumerate(AccessEvent.objects.order_by("id").iterator(chunk_size=1000), start=1):
        event.seq, event.prev_hash = seq, prev_hash
        event.hash = prev_hash = row_hash(event)
        batch.append(event)
        if len(batch) == 1000:
            AccessEvent.objects.bulk_update(batch, ["seq", "prev_hash", "hash"])
            batch = []
    if batch:
        AccessEvent.objects.bulk_update(batch, ["seq", "prev_hash", "hash"])


def create_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(TRIGGER_SQL, params=None)


def drop_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_TRIGGER_SQL, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_user_sessions"),
    ]

    operations = [
        migrations.AlterField(
            model_name="accessevent",
            name="action",
            field=models.CharField(
                choices=[
                    ("view", "Viewed"),
                    ("list", "Listed"),
                    ("create", "Created"),
                    ("update", "Updated"),
                    ("export", "Exported"),
                    ("delete", "Deleted"),
                    ("denied", "Refused access"),
                ],
                max_length=10,
            ),
        ),
        migrations.AddField(
            model_name="accessevent",
            name="patient_ids",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AddField(
            model_name="accessevent",
            name="seq",
            field=models.PositiveBigIntegerField(editable=False, null=True),
        ),
        migrations.AddField(
            model_name="accessevent",
            name="prev_hash",
            field=models.CharField(default="", editable=False, max_length=64),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="accessevent",
            name="hash",
            field=models.CharField(default="", editable=False, max_length=64),
            preserve_default=False,
        ),
        migrations.RunPython(chain_existing_rows, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="accessevent",
            name="seq",
            field=models.PositiveBigIntegerField(editable=False, unique=True),
        ),
        migrations.RunPython(create_trigger, drop_trigger),
    ]
