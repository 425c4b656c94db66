from django.db import migrations, models
from django.db.models import Exists, OuterRef, Q


def mark_patients_with_a_lead(apps, schema_editor):
    Patient = apps.get_model("patients", "Patient")
    CareTeamMember = apps.get_model("patients", "CareTeamMember")
    current_lead = CareTeamMember.objects.filter(patient=OuterRef("pk"), role="lead", ended_at__isnull=True)
    Patient.objects.filter(Exists(current_lead)).update(has_lead=True)


class Migration(migrations.Migration):
    dependencies = [("patients", "0008_advocacy_consent_testimonials_links")]

    operations = [
        migrations.AddField(
            model_name="patient",
            name="has_lead",
            field=models.BooleanField(default=False, editable=False),
        ),
        migrations.RunPython(mark_patients_with_a_lead, migrations.RunPython.noop, elidable=True),
        migrations.AddIndex(
            model_name="patient",
            index=models.Index(
                condition=Q(archived=False, has_lead=False),
                fields=["created_at", "id"],
                name="patient_active_without_lead",
            ),
        ),
    ]
