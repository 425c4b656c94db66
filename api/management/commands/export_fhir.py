"""Export the clinic's records as FHIR R4: one patient as a Bundle, or every patient as NDJSON files."""

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from accounts.audit import system_context
from api.fhir import patient_bundle, write_bulk, write_bundle
from api.services import fhir_export_record
from patients.models import Patient


class Command(BaseCommand):
    help = (
        "--patient ID --out FILE writes one patient's record as a FHIR R4 collection Bundle (FILE '-': standard "
        "output); --all --out DIR writes every patient as NDJSON, one <Type>.ndjson per resource type (FHIR Bulk "
        "Data's layout), a chunk of patients at a time. Audited as an export."
    )

    def add_arguments(self, parser):
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--patient", type=int, help="the patient's id")
        which.add_argument("--all", action="store_true", help="every patient, archived ones too")
        parser.add_argument("--out", required=True, help="a file (--patient) or a folder (--all)")
        parser.add_argument(
            "--staff-scope",
            action="store_true",
            help="leave out clinical text (signed notes, the intake, the patient's own words), as staff see it",
        )
        parser.add_argument(
            "--message-bodies", action="store_true", help="include the words of sent messages"
        )

    def handle(self, *args, **options):
        clinical = not options["staff_scope"]
        scope = "staff scope" if not clinical else "clinical scope"
        with system_context("command export_fhir"):
            if options["patient"] is not None:
                if not Patient.objects.filter(pk=options["patient"]).exists():
                    raise CommandError(f"No patient has the id {options['patient']}.")
                fhir_export_record(patient_ids=[options["patient"]], what=f"FHIR R4 Bundle ({scope})")
                bundle = patient_bundle(
                    patient_id=options["patient"], clinical=clinical, message_bodies=options["message_bodies"]
                )
                if options["out"] == "-":
                    write_bundle(bundle, sys.stdout)
                else:
                    with Path(options["out"]).open("w", encoding="utf-8") as out:
                        write_bundle(bundle, out)
                self.stderr.write(f"{len(bundle['entry'])} resources written.")
                return
            fhir_export_record(patient_ids=None, what=f"FHIR R4 bulk NDJSON ({scope})")
            counts = write_bulk(
                out_dir=Path(options["out"]), clinical=clinical, message_bodies=options["message_bodies"]
            )
        for kind, count in sorted(counts.items()):
            self.stderr.write(f"{kind}.ndjson: {count}")
