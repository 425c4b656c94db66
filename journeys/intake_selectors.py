"""Reads of the intake questionnaire: its state for everyone on the team, its answers for practitioners and
admins only. Reading the answers is audited like a visit note, and so is a refusal."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import dateformat

from accounts.audit import record_access
from accounts.models import AccessEvent, User
from accounts.queries import Compiled, built_per_thread
from patients.models import Patient

from .models import (
    AgreementSignature,
    QuestionKind,
    QuestionnaireAnswer,
    QuestionnaireQuestion,
    QuestionnaireResponse,
    QuestionnaireSection,
    Visit,
)

_ID_MARKER = 918_273_645


@built_per_thread
def _intake_latest_compiled() -> Compiled[QuestionnaireResponse]:
    """``intake_latest``'s read (``.first()``'s) compiled once per thread: every Visits tab runs it."""
    return Compiled(_intake_latest_query(_ID_MARKER)[:1], _ID_MARKER)


def intake_latest(patient: Patient) -> QuestionnaireResponse | None:
    """The patient's most recent intake questionnaire, for its state (no answers): one query."""
    found = _intake_latest_compiled().rows(patient.pk)
    return found[0] if found else None


def _intake_latest_query(patient_id: int) -> QuerySet[QuestionnaireResponse]:
    return (
        QuestionnaireResponse.objects.filter(patient_id=patient_id)
        .select_related("questionnaire")
        .only(
            "id",
            "patient_id",
            "status",
            "sent_at",
            "closes_at",
            "started_at",
            "submitted_at",
            "sections_done",
            "questionnaire__title",
            "questionnaire__version",
        )
        .order_by("-sent_at", "-id")
    )


def sections_of(questionnaire_id: int) -> list[QuestionnaireSection]:
    """A questionnaire's sections with their questions, in order: two queries."""
    return list(
        QuestionnaireSection.objects.filter(questionnaire_id=questionnaire_id)
        .prefetch_related(
            Prefetch("questions", queryset=QuestionnaireQuestion.objects.order_by("position", "id"))
        )
        .order_by("position", "id")
    )


def answers_of(response: QuestionnaireResponse) -> dict[str, Any]:
    return dict(QuestionnaireAnswer.objects.filter(response=response).values_list("link_id", "value"))


def _date(value: str) -> str:
    try:
        return dateformat.format(date.fromisoformat(value), "j F Y")
    except (TypeError, ValueError):
        return str(value)


def answer_text(kind: str, value: Any) -> str:
    """An answer as the practitioner reads it (and copies it into the note)."""
    if value in (None, "", [], {}):
        return ""
    if kind == QuestionKind.MULTIPLE_CHOICE:
        return ", ".join(str(v) for v in value)
    if kind == QuestionKind.SCALE:
        return f"{value} out of 10"
    if kind == QuestionKind.DATE:
        return _date(value)
    if kind == QuestionKind.YES_NO:
        said = {True: "Yes", False: "No"}.get(value.get("answer"), "")
        details = value.get("details", "")
        return " — ".join(part for part in (said, details) if part)
    if kind == QuestionKind.SYMPTOMS:
        lines = []
        for row in value:
            bits = [
                f"severity {row['severity']}/10" if row.get("severity") is not None else "",
                row.get("since") and f"since {row['since']}",
            ]
            extra = ", ".join(b for b in bits if b)
            lines.append(f"{row.get('name', '')}" + (f" ({extra})" if extra else ""))
        return "\n".join(lines)
    if kind == QuestionKind.MEDICATIONS:
        return "\n".join(
            ", ".join(p for p in (row.get("name", ""), row.get("dose", ""), row.get("frequency", "")) if p)
            for row in value
        )
    return str(value)


@dataclass
class SectionSummary:
    section: QuestionnaireSection
    answers: list[tuple[QuestionnaireQuestion, str]] = field(default_factory=list)

    @property
    def copy_text(self) -> str:
        """The section as plain text for the note: each question and its answer."""
        return "\n".join(f"{q.text}\n{text}\n" for q, text in self.answers).strip()


@dataclass
class IntakeSummary:
    response: QuestionnaireResponse
    sections: list[SectionSummary]
    signatures: list[AgreementSignature]
    medications: int

    @property
    def answered_sections(self) -> list[SectionSummary]:
        return [s for s in self.sections if s.answers]


def _summary(response: QuestionnaireResponse) -> IntakeSummary:
    answers = answers_of(response)
    sections, medications = [], 0
    for section in sections_of(response.questionnaire_id):
        summary = SectionSummary(section)
        for question in section.questions.all():
            text = answer_text(question.kind, answers.get(question.link_id))
            if text:
                summary.answers.append((question, text))
            if question.kind == QuestionKind.MEDICATIONS:
                medications += len(answers.get(question.link_id) or [])
        sections.append(summary)
    signatures = list(response.signatures.order_by("id"))
    return IntakeSummary(response=response, sections=sections, signatures=signatures, medications=medications)


def _refuse_staff(user: User, patient_id: int, obj) -> None:
    if not user.can_read_clinical:
        record_access(
            action=AccessEvent.Action.DENIED,
            actor=user,
            patient_id=patient_id,
            obj=obj,
            detail="intake answers refused to staff",
        )
        raise PermissionDenied("The patient's intake answers are for practitioners and admins only.")


def intake_summary_for(*, user: User, patient: Patient) -> IntakeSummary | None:
    """The patient's latest submitted intake with every answer, for practitioners and admins (audited as a
    view); staff are refused with PermissionDenied, audited as denied. ``None`` when none is submitted."""
    response = (
        QuestionnaireResponse.objects.filter(patient=patient, status=QuestionnaireResponse.Status.COMPLETED)
        .select_related("questionnaire", "patient", "journey")
        .order_by("-submitted_at", "-id")
        .first()
    )
    _refuse_staff(user, patient.pk, response or patient)
    if response is None:
        return None
    record_access(
        action=AccessEvent.Action.VIEW,
        actor=user,
        patient_id=patient.pk,
        obj=response,
        detail="intake answers",
    )
    return _summary(response)


def intake_summary_for_visit(*, user: User, visit: Visit) -> IntakeSummary | None:
    """Beside an intake visit's note: the patient's submitted intake (see ``intake_summary_for``)."""
    if visit.kind != Visit.Kind.INTAKE:
        return None
    return intake_summary_for(user=user, patient=visit.patient)


def signature_get_for(*, user: User, pk: int) -> AgreementSignature:
    """One signed agreement for the clinic's copy (any role: it holds the agreement, not the answers);
    audited as an export."""
    signature = get_object_or_404(AgreementSignature.objects.select_related("response__patient"), pk=pk)
    record_access(
        action=AccessEvent.Action.EXPORT,
        actor=user,
        patient_id=signature.response.patient_id,
        obj=signature,
        detail=f"signed agreement “{signature.title}” v{signature.agreement_version}",
    )
    return signature


def intake_signatures(response: QuestionnaireResponse | None) -> list[AgreementSignature]:
    if response is None or response.status != QuestionnaireResponse.Status.COMPLETED:
        return []
    return list(
        AgreementSignature.objects.filter(response=response)
        .only("id", "title", "agreement_version", "signed_at", "response_id")
        .order_by("id")
    )
