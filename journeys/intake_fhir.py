"""The intake questionnaire as FHIR R4 ``Questionnaire`` and ``QuestionnaireResponse`` resources (plain dicts).

The models keep FHIR's shape (a version per row, link ids, answer types), so this is a mapping: a section is
an item of type ``group``; a question an item of its FHIR type; the symptom and medication lists are
repeating groups whose rows are answered as nested items. ``api`` can serialise or validate these as it likes.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from .intake_selectors import answers_of, sections_of
from .models import QuestionKind, Questionnaire, QuestionnaireQuestion, QuestionnaireResponse

ROW_ITEMS = {
    QuestionKind.SYMPTOMS: [("name", "string", "Symptom"), ("severity", "integer", "Severity (0–10)"), ("since", "string", "Since when")],
    QuestionKind.MEDICATIONS: [("name", "string", "Name"), ("dose", "string", "Dose"), ("frequency", "string", "How often")],
}  # fmt: skip


def canonical_url(questionnaire: Questionnaire) -> str:
    return f"{settings.ALLIANCE_SITE_URL}/fhir/Questionnaire/{questionnaire.slug}"


def _question_item(question: QuestionnaireQuestion) -> dict[str, Any]:
    item: dict[str, Any] = {"linkId": question.link_id, "text": question.text, "type": question.fhir_type}
    if question.required:
        item["required"] = True
    if question.kind in (QuestionKind.SINGLE_CHOICE, QuestionKind.MULTIPLE_CHOICE):
        item["answerOption"] = [{"valueCoding": {"code": o, "display": o}} for o in question.option_list]
        item["repeats"] = question.kind == QuestionKind.MULTIPLE_CHOICE
    elif question.kind == QuestionKind.SCALE:
        item["extension"] = [
            {"url": "http://hl7.org/fhir/StructureDefinition/minValue", "valueInteger": 0},
            {"url": "http://hl7.org/fhir/StructureDefinition/maxValue", "valueInteger": 10},
        ]
    elif question.kind == QuestionKind.YES_NO:
        item["item"] = [{"linkId": f"{question.link_id}.details", "text": "Details", "type": "text"}]
    elif question.kind in ROW_ITEMS:
        item["repeats"] = True
        item["item"] = [
            {"linkId": f"{question.link_id}.{part}", "text": text, "type": kind}
            for part, kind, text in ROW_ITEMS[QuestionKind(question.kind)]
        ]
    return item


def questionnaire_resource(questionnaire: Questionnaire) -> dict[str, Any]:
    """One version of a questionnaire as a FHIR R4 Questionnaire."""
    return {
        "resourceType": "Questionnaire",
        "id": f"{questionnaire.slug}-v{questionnaire.version}",
        "url": canonical_url(questionnaire),
        "version": str(questionnaire.version),
        "name": questionnaire.slug.replace("-", "_"),
        "title": questionnaire.title,
        "status": questionnaire.status,
        "item": [
            {
                "linkId": section.link_id,
                "text": section.title,
                "type": "group",
                "item": [_question_item(q) for q in section.questions.all()],
            }
            for section in sections_of(questionnaire.pk)
        ],
    }


def _answers(question: QuestionnaireQuestion, value: Any) -> list[dict[str, Any]] | list[dict]:
    kind = question.kind
    if kind in (QuestionKind.SHORT_TEXT, QuestionKind.LONG_TEXT):
        return [{"valueString": value}]
    if kind == QuestionKind.SINGLE_CHOICE:
        return [{"valueCoding": {"code": value, "display": value}}]
    if kind == QuestionKind.MULTIPLE_CHOICE:
        return [{"valueCoding": {"code": v, "display": v}} for v in value]
    if kind == QuestionKind.SCALE:
        return [{"valueInteger": int(value)}]
    if kind == QuestionKind.DATE:
        return [{"valueDate": value}]
    return []


def _response_item(question: QuestionnaireQuestion, value: Any) -> list[dict[str, Any]]:
    """The item(s) answering one question: repeating groups give one item per row."""
    base = {"linkId": question.link_id, "text": question.text}
    if question.kind == QuestionKind.YES_NO:
        item: dict[str, Any] = dict(base)
        if value.get("answer") is not None:
            item["answer"] = [{"valueBoolean": bool(value["answer"])}]
        if value.get("details"):
            item["item"] = [
                {"linkId": f"{question.link_id}.details", "answer": [{"valueString": value["details"]}]}
            ]
        return [item]
    if question.kind in ROW_ITEMS:
        rows = []
        for row in value:
            parts = []
            for part, kind, _text in ROW_ITEMS[QuestionKind(question.kind)]:
                if row.get(part) in (None, ""):
                    continue
                answer = {"valueInteger": int(row[part])} if kind == "integer" else {"valueString": row[part]}
                parts.append({"linkId": f"{question.link_id}.{part}", "answer": [answer]})
            rows.append({**base, "item": parts})
        return rows
    return [{**base, "answer": _answers(question, value)}]


def response_resource(response: QuestionnaireResponse) -> dict[str, Any]:
    """A patient's answers as a FHIR R4 QuestionnaireResponse, pointing at the exact version answered."""
    answers = answers_of(response)
    questionnaire = response.questionnaire
    items = []
    for section in sections_of(questionnaire.pk):
        answered = [
            item
            for q in section.questions.all()
            if answers.get(q.link_id) not in (None, "", [], {})
            for item in _response_item(q, answers[q.link_id])
        ]
        if answered:
            items.append({"linkId": section.link_id, "text": section.title, "item": answered})
    resource: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "id": f"intake-{response.pk}",
        "questionnaire": f"{canonical_url(questionnaire)}|{questionnaire.version}",
        "status": response.fhir_status,
        "subject": {"reference": f"Patient/{response.patient_id}"},
        "item": items,
    }
    if response.submitted_at:
        resource["authored"] = response.submitted_at.isoformat()
    return resource
