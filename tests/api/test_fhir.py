"""The FHIR R4 export: every resource valid against fhir.resources' R4B models, every reference resolving,
nothing clinical in a staff-scoped export, and every export on the audit trail."""

import base64
import json
import subprocess  # noqa: F401
from pathlib import Path

import pytest
from django.core.management import call_command
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle

from accounts.models import AccessEvent
from api.fhir import patient_bundle, write_bulk

from .conftest import NOTE_BODY, STORY

EXPECTED = {
    "Patient", "Practitioner", "CareTeam", "EpisodeOfCare", "Appointment", "CarePlan", "Goal",
    "QuestionnaireResponse", "Observation", "Flag", "Communication", "Consent", "DocumentReference",
}  # fmt: skip


def references(value):
    if isinstance(value, dict):
        for name, inner in value.items():
            if name == "reference" and isinstance(inner, str):
                yield inner
            else:
                yield from references(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from references(inner)


def validate_all(resources):
    for resource in resources:
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)


def test_a_full_patient_validates_resource_by_resource_and_every_reference_resolves(full_patient):
    bundle = patient_bundle(patient_id=full_patient.pk, clinical=True)
    Bundle.model_validate(bundle)
    resources = [entry["resource"] for entry in bundle["entry"]]
    validate_all(resources)
    assert {r["resourceType"] for r in resources} == EXPECTED
    present = {f"{r['resourceType']}/{r['id']}" for r in resources}
    assert len(present) == len(resources), "ids are unique per type"
    dangling = {ref for r in resources for ref in references(r)} - present
    assert not dangling


def test_the_mapping_carries_what_the_clinic_recorded(full_patient):
    resources = [e["resource"] for e in patient_bundle(patient_id=full_patient.pk, clinical=True)["entry"]]
    by_type = {}
    for r in resources:
        by_type.setdefault(r["resourceType"], []).append(r)
    (patient,) = by_type["Patient"]
    assert {n["use"]: n["given"][0] for n in patient["name"]} == {"official": "Renée", "usual": "Ren"}
    assert patient["extension"][0]["valueCode"] == "Europe/Paris"
    assert patient["birthDate"] == "1984-03-02"
    (episode,) = by_type["EpisodeOfCare"]
    assert episode["status"] == "active"
    assert [h["status"] for h in episode["statusHistory"]] == [
        "planned",
        "planned",
        "active",
        "active",
        "active",
    ]
    v1, v2 = sorted(by_type["CarePlan"], key=lambda c: c["title"])
    assert v2["replaces"] == [{"reference": f"CarePlan/{v1['id']}"}]
    assert v1["status"] == "revoked" and v2["status"] == "active"
    assert len(v2["activity"]) == 3 and v2["goal"]
    assert {o["id"].split("-")[0] for o in by_type["Observation"]} == {
        "adherence",
        "energy",
        "sleep",
        "mood",
        "digestion",
    }
    adherence = next(o for o in by_type["Observation"] if o["id"].startswith("adherence"))
    assert adherence["valueQuantity"]["value"] == 50.0
    assert sorted(f["status"] for f in by_type["Flag"]) == ["active", "inactive"]
    (communication,) = by_type["Communication"]  # the sent one only
    assert "payload" not in communication
    assert [c["status"] for c in by_type["Consent"]].count("active") == 2
    assert len(by_type["DocumentReference"]) == 2  # signed notes only, the addendum appends to its note
    texts = [
        base64.b64decode(d["content"][0]["attachment"]["data"]).decode() for d in by_type["DocumentReference"]
    ]
    assert any(NOTE_BODY in t and STORY in t for t in texts)


def test_message_bodies_only_when_asked(full_patient):
    resources = [
        e["resource"]
        for e in patient_bundle(patient_id=full_patient.pk, clinical=True, message_bodies=True)["entry"]
    ]
    (communication,) = [r for r in resources if r["resourceType"] == "Communication"]
    assert communication["payload"][1]["contentString"] == "Where did my plan fail you this week?"


def test_a_staff_scoped_export_contains_no_note_text(full_patient):
    bundle = patient_bundle(patient_id=full_patient.pk, clinical=False)
    resources = [e["resource"] for e in bundle["entry"]]
    validate_all(resources)
    text = json.dumps(bundle, ensure_ascii=False)
    for clinical in (
        NOTE_BODY,
        STORY,
        "Labs ordered",
        "Too tired to cook",
        "Eat with my kids",
        "with food",
        "Plan simplified",
    ):
        assert clinical not in text
    assert not {"DocumentReference", "Goal"} & {r["resourceType"] for r in resources}


def test_bulk_ndjson_writes_one_file_per_type_and_the_references_resolve(full_patient, tmp_path):
    counts = write_bulk(out_dir=tmp_path, clinical=True)
    assert set(counts) == EXPECTED
    present, refs = set(), set()
    for path in tmp_path.glob("*.ndjson"):
        lines = path.read_text().splitlines()
        assert len(lines) == counts[path.stem]
        resources = [json.loads(line) for line in lines]
        validate_all(resources)
        present |= {f"{r['resourceType']}/{r['id']}" for r in resources}
        refs |= {ref for r in resources for ref in references(r)}
    assert refs <= present


def test_the_command_exports_and_is_audited(full_patient, tmp_path):
    out = tmp_path / "one.json"
    call_command("export_fhir", "--patient", str(full_patient.pk), "--out", str(out))
    assert json.loads(out.read_text())["type"] == "collection"
    call_command("export_fhir", "--all", "--out", str(tmp_path / "all"), "--staff-scope")
    assert (tmp_path / "all" / "Patient.ndjson").exists()
    assert not (tmp_path / "all" / "DocumentReference.ndjson").exists()
    rows = list(AccessEvent.objects.filter(action="export").order_by("seq"))
    assert [r.object_repr for r in rows] == [
        "FHIR R4 Bundle (clinical scope)",
        "FHIR R4 bulk NDJSON (staff scope)",
    ]
    assert all(r.patient_ids == [full_patient.pk] for r in rows)
    assert rows[0].actor_label == "system: command export_fhir"


def test_the_command_refuses_an_unknown_patient(db, tmp_path):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="No patient"):
        call_command("export_fhir", "--patient", "999999", "--out", str(tmp_path / "x.json"))


def test_admins_download_a_patients_record_from_the_patient_page(client_for, admin_user, staff, full_patient):
    url = f"/patients/{full_patient.pk}/fhir/"
    assert client_for(staff).get(url).status_code == 403
    response = client_for(admin_user).get(url)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/fhir+json")
    assert (
        json.loads(b"".join(response.streaming_content) if response.streaming else response.content)["type"]
        == "collection"
    )
    assert AccessEvent.objects.filter(
        action="export", actor=admin_user, patient_ids=[full_patient.pk]
    ).exists()
    page = client_for(admin_user).get(full_patient.get_absolute_url())
    assert url.encode() in page.content
    assert url.encode() not in client_for(staff).get(full_patient.get_absolute_url()).content


def test_the_export_holds_a_chunk_at_a_time(full_patient, tmp_path, django_assert_max_num_queries, settings):
    """Queries per chunk, not per patient: ten more patients cost no query more."""
    from tests.factories import PatientFactory

    with django_assert_max_num_queries(40) as few:
        write_bulk(out_dir=tmp_path / "a", clinical=True)
    PatientFactory.create_batch(10)
    with django_assert_max_num_queries(len(few.captured_queries)):
        write_bulk(out_dir=tmp_path / "b", clinical=True)
    assert len((tmp_path / "b" / "Patient.ndjson").read_text().splitlines()) == 11
    assert Path(tmp_path / "b").is_dir()
