"""FHIR R4 resources of the clinic's records, built as plain dicts, a chunk of patients at a time.

``patient_bundle`` gives one patient's record as a ``collection`` Bundle; ``write_bulk`` writes every patient
as NDJSON, one file per resource type (as FHIR Bulk Data does), holding one chunk in memory at a time.
``clinical=False`` (a staff-scoped export) leaves out every text a practitioner or the patient wrote about
their health: signed notes (DocumentReference), the intake (QuestionnaireResponse, Goal), the patient's own
words in a check-in, plan instructions and alert resolutions. Message bodies only with ``message_bodies``.
"""

from __future__ import annotations

import base64
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any

from django.conf import settings

from compliance.scoring import score_of

from . import selectors
from .selectors import Chunk

EXT = "https://alliance-crm.invalid/fhir/StructureDefinition"
CS = "https://alliance-crm.invalid/fhir/CodeSystem"
TIME_ZONE_EXT = "http://hl7.org/fhir/StructureDefinition/tz-code"
CHUNK = 500

EPISODE_STATUS = {
    "inquiry": "planned",
    "discovery": "planned",
    "intake": "active",
    "commitment": "active",
    "blueprint": "active",
    "check_ins": "active",
    "graduated": "finished",
    "advocate": "finished",
    "paused": "onhold",
    "declined": "cancelled",
    "withdrawn": "cancelled",
}
APPOINTMENT_STATUS = {
    "scheduled": "booked",
    "completed": "fulfilled",
    "cancelled": "cancelled",
    "no_show": "noshow",
}
CAREPLAN_STATUS = {"draft": "draft", "published": "active", "superseded": "revoked"}
ACTIVITY_STATUS = {"active": "in-progress", "paused": "on-hold", "stopped": "stopped"}
ACTIVITY_KIND = {
    "supplement": "MedicationRequest",
    "diet": "NutritionOrder",
    "lab": "ServiceRequest",
    "lifestyle": "Task",
    "therapy": "ServiceRequest",
}
MEDIUM = {"email": ("EMAILWRIT", "email"), "sms": ("SMSWRIT", "SMS")}
RATINGS = ("energy", "sleep", "mood", "digestion")


def _ref(kind: str, pk: Any) -> dict:
    return {"reference": f"{kind}/{pk}"}


def _instant(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _day(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _concept(system: str, code: str, display: str = "") -> dict:
    coding = {"system": f"{CS}/{system}", "code": code}
    if display:
        coding["display"] = display
    return {"coding": [coding], "text": display or code}


def _clean(resource: dict) -> dict:
    """Drop empty values: FHIR forbids empty strings, lists and objects."""
    out = {}
    for name, value in resource.items():
        if isinstance(value, dict):
            value = _clean(value)
        elif isinstance(value, list):
            value = [_clean(v) if isinstance(v, dict) else v for v in value]
            value = [v for v in value if v not in (None, "", {}, [])]
        if value not in (None, "", {}, []):
            out[name] = value
    return out


def practitioner(user) -> dict:
    return _clean(
        {
            "resourceType": "Practitioner",
            "id": str(user.pk),
            "active": user.is_active,
            "name": [{"text": str(user)}],
        }
    )


def patient_resource(p) -> dict:
    names = [{"use": "official", "family": p.last_name, "given": [p.first_name]}]
    if p.preferred_name:
        names.append({"use": "usual", "family": p.last_name, "given": [p.preferred_name]})
    telecom = []
    if p.email:
        telecom.append(
            {"system": "email", "value": p.email, "rank": 1 if p.preferred_channel == "email" else 2}
        )
    if p.phone:
        telecom.append({"system": "sms", "value": p.phone, "rank": 1 if p.preferred_channel == "sms" else 2})
    return _clean(
        {
            "resourceType": "Patient",
            "id": str(p.pk),
            "active": not p.archived,
            "name": names,
            "telecom": telecom,
            "birthDate": _day(p.date_of_birth),
            "extension": [{"url": TIME_ZONE_EXT, "valueCode": p.time_zone}],
        }
    )


def _care_team(p, members: list) -> dict | None:
    if not members:
        return None
    participants = []
    for m in members:
        entry: dict = {
            "role": [_concept("care-team-role", m.role, m.get_role_display())],
            "period": {"start": _instant(m.started_at), "end": _instant(m.ended_at)},
        }
        if m.user_id:
            entry["member"] = {**_ref("Practitioner", m.user_id), "display": str(m.user)}
        else:
            entry["member"] = {"display": " — ".join(x for x in (m.external_name, m.external_practice) if x)}
        participants.append(entry)
    return _clean(
        {
            "resourceType": "CareTeam",
            "id": str(p.pk),
            "status": "active",
            "subject": _ref("Patient", p.pk),
            "participant": participants,
        }
    )


def _episode(journey, changes: list) -> dict:
    ordered = sorted(changes, key=lambda c: (c.at, c.pk))
    history = []
    for number, change in enumerate(ordered):
        end = ordered[number + 1].at if number + 1 < len(ordered) else journey.ended_at
        history.append(
            {
                "status": EPISODE_STATUS[change.to_stage],
                "period": {"start": _instant(change.at), "end": _instant(end)},
            }
        )
    return _clean(
        {
            "resourceType": "EpisodeOfCare",
            "id": str(journey.pk),
            "status": EPISODE_STATUS[journey.stage],
            "statusHistory": history,
            "type": [_concept("journey-stage", journey.stage, journey.get_stage_display())]
            + ([{"text": journey.program.name}] if journey.program_id else []),
            "patient": _ref("Patient", journey.patient_id),
            "period": {"start": _instant(journey.started_at), "end": _instant(journey.ended_at)},
            "extension": [
                {
                    "url": f"{EXT}/journey-stage-history",
                    "valueString": f"{c.from_stage or 'start'}>{c.to_stage}@{c.at.isoformat()}",
                }
                for c in ordered
            ],
        }
    )


def _appointment(visit) -> dict:
    return _clean(
        {
            "resourceType": "Appointment",
            "id": str(visit.pk),
            "status": APPOINTMENT_STATUS[visit.status],
            "appointmentType": _concept("visit-kind", visit.kind, visit.get_kind_display()),
            "start": _instant(visit.starts_at),
            "end": _instant(visit.ends_at),
            "minutesDuration": visit.duration_minutes,
            "created": _instant(visit.created_at),
            "supportingInformation": [_ref("EpisodeOfCare", visit.journey_id)] if visit.journey_id else [],
            "participant": [
                {"actor": _ref("Patient", visit.patient_id), "status": "accepted"},
                {"actor": _ref("Practitioner", visit.practitioner_id), "status": "accepted"},
            ],
        }
    )


def _careplan(blueprint, previous, goals: list[str], *, clinical: bool) -> dict:
    activities = []
    for item in blueprint.items.all():
        description = item.title
        if clinical and item.instructions:
            description = f"{item.title}: {item.instructions}"
        activities.append(
            {
                "detail": {
                    "kind": ACTIVITY_KIND[item.kind],
                    "code": _concept("plan-item-kind", item.kind, item.get_kind_display()),
                    "status": ACTIVITY_STATUS[item.status],
                    "description": description,
                    "scheduledString": " ".join(x for x in (item.dose, item.frequency) if x),
                    "scheduledPeriod": {"start": _day(item.starts_on), "end": _day(item.ends_on)},
                }
            }
        )
    return _clean(
        {
            "resourceType": "CarePlan",
            "id": str(blueprint.pk),
            "status": CAREPLAN_STATUS[blueprint.status],
            "intent": "plan",
            "title": f"Blueprint version {blueprint.version}",
            "description": blueprint.summary if clinical else "",
            "subject": _ref("Patient", blueprint.journey.patient_id),
            "period": {"start": _instant(blueprint.published_at)},
            "created": _instant(blueprint.created_at),
            "replaces": [_ref("CarePlan", previous.pk)] if previous is not None else [],
            "supportingInfo": [_ref("EpisodeOfCare", blueprint.journey_id)],
            "goal": [_ref("Goal", goal) for goal in goals],
            "activity": activities,
        }
    )


def _score(logs: list) -> float | None:
    value, _ = score_of(log.status for log in logs)
    return value


def _checkin_resources(answer, logs: list, *, clinical: bool) -> Iterator[dict]:
    checkin = answer.checkin
    patient = _ref("Patient", answer.patient_id)
    qr_id = f"checkin-{checkin.pk}"
    items = [
        {
            "linkId": f"item-{log.item_id}",
            "text": log.item.title,
            "answer": [{"valueCoding": {"system": f"{CS}/adherence", "code": log.status}}],
        }
        for log in logs
    ]
    items += [
        {"linkId": rating, "text": rating.title(), "answer": [{"valueInteger": getattr(answer, rating)}]}
        for rating in RATINGS
        if getattr(answer, rating) is not None
    ]
    if answer.barriers:
        items.append(
            {
                "linkId": "barriers",
                "text": "What got in the way",
                "answer": [{"valueCoding": {"system": f"{CS}/barrier", "code": b}} for b in answer.barriers],
            }
        )
    if clinical and answer.where_it_failed:
        items.append(
            {
                "linkId": "where_it_failed",
                "text": "Where did my plan fail you this week?",
                "answer": [{"valueString": answer.where_it_failed}],
            }
        )
    yield _clean(
        {
            "resourceType": "QuestionnaireResponse",
            "id": qr_id,
            "status": "amended" if answer.amended_at else "completed",
            "subject": patient,
            "authored": _instant(answer.answered_at),
            "encounter": None,
            "identifier": {"system": f"{CS}/checkin", "value": str(checkin.pk)},
            "item": items,
        }
    )
    derived = [_ref("QuestionnaireResponse", qr_id)]
    score = _score(logs)
    if score is not None:
        yield _clean(
            {
                "resourceType": "Observation",
                "id": f"adherence-{checkin.pk}",
                "status": "final",
                "category": [_concept("observation-category", "adherence", "Adherence")],
                "code": _concept("observation", "adherence-score", "Plan adherence in the check-in week"),
                "subject": patient,
                "effectiveDateTime": _instant(answer.answered_at),
                "valueQuantity": {
                    "value": score,
                    "unit": "%",
                    "system": "http://unitsofmeasure.org",
                    "code": "%",
                },
                "derivedFrom": derived,
            }
        )
    for rating in RATINGS:
        value = getattr(answer, rating)
        if value is None:
            continue
        yield _clean(
            {
                "resourceType": "Observation",
                "id": f"{rating}-{checkin.pk}",
                "status": "final",
                "category": [_concept("observation-category", "self-report", "Patient's own rating")],
                "code": _concept("observation", rating, f"{rating.title()} (0–10)"),
                "subject": patient,
                "effectiveDateTime": _instant(answer.answered_at),
                "valueInteger": value,
                "derivedFrom": derived,
            }
        )


def _flag(alert, *, clinical: bool) -> dict:
    return _clean(
        {
            "resourceType": "Flag",
            "id": str(alert.pk),
            "status": "active" if alert.resolved_at is None else "inactive",
            "category": [_concept("flag-category", "faltering", "Needs attention")],
            "code": {
                "coding": [
                    {"system": f"{CS}/alert-reason", "code": row["reason"]} for row in alert.all_reasons
                ],
                "text": "; ".join(
                    f"{row['label']}: {row.get('detail', '')}".rstrip(": ") for row in alert.all_reasons
                ),
            },
            "subject": _ref("Patient", alert.patient_id),
            "period": {"start": _instant(alert.opened_at), "end": _instant(alert.resolved_at)},
            "extension": [{"url": f"{EXT}/alert-resolution", "valueString": alert.resolution}]
            if clinical and alert.resolution
            else [],
        }
    )


def _communication(nudge, *, message_bodies: bool) -> dict:
    code, display = MEDIUM[nudge.channel]
    payload = []
    if message_bodies:
        payload = [{"contentString": text} for text in (nudge.subject, nudge.body_text) if text]
    return _clean(
        {
            "resourceType": "Communication",
            "id": str(nudge.pk),
            "status": "completed",
            "category": [_concept("nudge-kind", nudge.kind, nudge.get_kind_display())],
            "medium": [
                {
                    "coding": [
                        {"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationMode", "code": code}
                    ],
                    "text": display,
                }
            ],
            "subject": _ref("Patient", nudge.patient_id),
            "recipient": [_ref("Patient", nudge.patient_id)],
            "sent": _instant(nudge.sent_at),
            "payload": payload,
        }
    )


def _consent(event, *, latest: bool) -> dict:
    return _clean(
        {
            "resourceType": "Consent",
            "id": str(event.pk),
            "status": "active" if latest else "inactive",
            "scope": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                        "code": "patient-privacy",
                    }
                ]
            },
            "category": [
                _concept("consent-channel", event.channel, f"Messages by {event.get_channel_display()}")
            ],
            "patient": _ref("Patient", event.patient_id),
            "dateTime": _instant(event.at),
            "policyRule": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                        "code": "OPTIN" if event.granted else "OPTOUT",
                    }
                ],
                "text": event.via,
            },
            "provision": {
                "type": "permit" if event.granted else "deny",
                "action": [{"text": f"contact at {event.address}"}],
            },
        }
    )


def _note_text(note) -> str:
    parts = [note.title, note.body]
    labels = note.INTAKE_SECTIONS
    parts += [f"{labels.get(k, k)}: {v}" for k, v in (note.sections or {}).items() if v]
    return "\n\n".join(p for p in parts if p)


def _note_resources(note) -> Iterator[dict]:
    visit = note.visit
    yield _clean(
        {
            "resourceType": "DocumentReference",
            "id": str(note.pk),
            "status": "current",
            "docStatus": "final",
            "type": _concept("note", "addendum" if note.addendum_to_id else "visit-note", "Visit note"),
            "subject": _ref("Patient", visit.patient_id),
            "date": _instant(note.signed_at),
            "author": [_ref("Practitioner", note.author_id)],
            "description": note.title,
            "relatesTo": [{"code": "appends", "target": _ref("DocumentReference", note.addendum_to_id)}]
            if note.addendum_to_id
            else [],
            "content": [
                {
                    "attachment": {
                        "contentType": "text/plain; charset=utf-8",
                        "data": base64.b64encode(_note_text(note).encode()).decode(),
                        "title": note.title,
                        "creation": _instant(note.created_at),
                    }
                }
            ],
            "context": {"related": [_ref("Appointment", visit.pk)]},
        }
    )
    sections = note.sections or {}
    if visit.kind == "intake" and any(sections.values()):
        yield _clean(
            {
                "resourceType": "QuestionnaireResponse",
                "id": f"intake-{note.pk}",
                "status": "completed",
                "subject": _ref("Patient", visit.patient_id),
                "authored": _instant(note.signed_at),
                "author": _ref("Practitioner", note.author_id),
                "source": _ref("Patient", visit.patient_id),
                "item": [
                    {"linkId": key, "text": label, "answer": [{"valueString": sections[key]}]}
                    for key, label in note.INTAKE_SECTIONS.items()
                    if sections.get(key)
                ],
            }
        )
    if visit.kind == "intake" and sections.get("goals"):
        yield _clean(
            {
                "resourceType": "Goal",
                "id": f"intake-{note.pk}",
                "lifecycleStatus": "active",
                "description": {"text": sections["goals"]},
                "subject": _ref("Patient", visit.patient_id),
                "startDate": _day(note.signed_at.date()),
                "expressedBy": _ref("Patient", visit.patient_id),
            }
        )


def chunk_resources(chunk: Chunk, *, clinical: bool, message_bodies: bool) -> Iterator[dict]:
    """Every resource of the chunk's patients (no Practitioner: the writers add those)."""
    for p in chunk.patients:
        yield patient_resource(p)
        team = _care_team(p, chunk.care_team[p.pk])
        if team:
            yield team
        goals_by_journey: dict[int, list[str]] = defaultdict(list)
        if clinical:
            for note in chunk.notes[p.pk]:
                yield from _note_resources(note)
                if (
                    note.visit.kind == "intake"
                    and (note.sections or {}).get("goals")
                    and note.visit.journey_id
                ):
                    goals_by_journey[note.visit.journey_id].append(f"intake-{note.pk}")
        for journey in chunk.journeys[p.pk]:
            yield _episode(journey, chunk.stage_changes[journey.pk])
        for visit in chunk.visits[p.pk]:
            yield _appointment(visit)
        previous: dict[int, Any] = {}
        for blueprint in chunk.blueprints[p.pk]:  # by journey, oldest version first
            yield _careplan(
                blueprint,
                previous.get(blueprint.journey_id),
                goals_by_journey.get(blueprint.journey_id, []),
                clinical=clinical,
            )
            previous[blueprint.journey_id] = blueprint
        for answer in chunk.answers[p.pk]:
            yield from _checkin_resources(answer, chunk.logs[answer.pk], clinical=clinical)
        for alert in chunk.alerts[p.pk]:
            yield _flag(alert, clinical=clinical)
        for nudge in chunk.nudges[p.pk]:
            yield _communication(nudge, message_bodies=message_bodies)
        events = chunk.consents[p.pk]
        latest = {}
        for event in events:  # oldest first: the last per channel stands
            latest[event.channel] = event.pk
        for event in events:
            yield _consent(event, latest=latest[event.channel] == event.pk)


def _full_url(resource: dict) -> str:
    base = (settings.ALLIANCE_SITE_URL or "https://alliance-crm.invalid").rstrip("/")
    return f"{base}/fhir/{resource['resourceType']}/{resource['id']}"


def patient_bundle(*, patient_id: int, clinical: bool, message_bodies: bool = False) -> dict:
    """One patient's record as a FHIR ``collection`` Bundle, with the practitioners it names."""
    chunk = selectors.fhir_chunk([patient_id], clinical=clinical)
    resources = list(chunk_resources(chunk, clinical=clinical, message_bodies=message_bodies))
    resources += [practitioner(user) for user in selectors.fhir_users(chunk.user_ids)]
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": datetime.now().astimezone().isoformat(),
        "entry": [{"fullUrl": _full_url(r), "resource": r} for r in resources],
    }


def write_bundle(bundle: dict, out: IO[str]) -> None:
    json.dump(bundle, out, ensure_ascii=False, indent=1)
    out.write("\n")


def write_bulk(
    *, out_dir: Path, clinical: bool, message_bodies: bool = False, patient_ids: Iterable[int] | None = None
) -> dict[str, int]:
    """Every patient (or ``patient_ids``) as NDJSON under ``out_dir``, one ``<Type>.ndjson`` per resource
    type, a chunk of ``CHUNK`` patients in memory at a time. Return how many resources of each type."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, IO[str]] = {}
    counts: dict[str, int] = defaultdict(int)
    users: set[int] = set()
    try:
        for ids in selectors.fhir_patient_id_chunks(CHUNK, only=patient_ids):
            chunk = selectors.fhir_chunk(ids, clinical=clinical)
            users |= chunk.user_ids
            for resource in chunk_resources(chunk, clinical=clinical, message_bodies=message_bodies):
                _write_line(files, counts, out_dir, resource)
        for user in selectors.fhir_users(users):
            _write_line(files, counts, out_dir, practitioner(user))
    finally:
        for handle in files.values():
            handle.close()
    return dict(counts)


def _write_line(files: dict, counts: dict, out_dir: Path, resource: dict) -> None:
    kind = resource["resourceType"]
    if kind not in files:
        files[kind] = (out_dir / f"{kind}.ndjson").open("w", encoding="utf-8")
    files[kind].write(json.dumps(resource, ensure_ascii=False, separators=(",", ":")) + "\n")
    counts[kind] += 1
