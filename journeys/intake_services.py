"""The patient's intake questionnaire: sent by itself, answered section by section, signed, carried into the plan.

Sending: booking an intake visit (``visits.visit_schedule``) or the journey reaching ``intake``
(``stages.journey_move``) calls ``intake_send``, which opens at most one response per patient (a database
constraint) and schedules its link nudge once, keyed ``intake:<response>:link``; a reminder is keyed
``intake:<response>:reminder:<visit start in UTC>:<offset>`` (the intake-reminder rule, 48 h before by
default). Moving the visit moves the reminder and the link's end; cancelling it withdraws what has not gone
out, and an untouched questionnaire with it. Submitting withdraws the reminder.

The link stops at ``closes_at``: the visit's start, or the clinic's limit after sending
(``Questionnaire.link_valid_days``), whichever comes first. Submitted answers never change through it.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.urls import reverse
from django.utils import timezone

from accounts.audit import current_audit_context, record_access
from accounts.models import AccessEvent, User
from nudges.models import Kind as NudgeKind
from nudges.models import Nudge, NudgeRule
from nudges.services import nudge_cancel, nudge_schedule
from patients.models import Patient

from .intake_defaults import SLUG as DEFAULT_SLUG
from .models import (
    Agreement,
    AgreementSignature,
    Blueprint,
    ItemKind,
    Journey,
    QuestionKind,
    Questionnaire,
    QuestionnaireAnswer,
    QuestionnaireQuestion,
    QuestionnaireResponse,
    QuestionnaireSection,
    Visit,
)
from .tokens import intake_token

DEFAULT_REMINDER_OFFSETS = [-2880]
OPEN = (QuestionnaireResponse.Status.SENT, QuestionnaireResponse.Status.IN_PROGRESS)


class Refusal:
    """Why the link cannot change the response (the public pages show each its own warm page)."""

    WITHDRAWN = "withdrawn"
    CLOSED = "closed"
    SUBMITTED = "submitted"


# --- Sending ----------------------------------------------------------------------------------------


def intake_url(response: QuestionnaireResponse) -> str:
    return settings.ALLIANCE_SITE_URL + reverse("journeys:questionnaire", args=[intake_token(response.pk)])


def _prefix(response: QuestionnaireResponse) -> str:
    return f"intake:{response.pk}:"


def questionnaire_to_send() -> Questionnaire | None:
    """The published *Your story*; without it, the questionnaire published most recently."""
    published = Questionnaire.objects.filter(status=Questionnaire.Status.ACTIVE)
    return published.filter(slug=DEFAULT_SLUG).first() or published.order_by("-published_at", "-id").first()


def _closes_at(questionnaire: Questionnaire, visit: Visit | None, *, now: datetime) -> datetime:
    limit = now + timedelta(days=questionnaire.link_valid_days)
    return min(limit, visit.starts_at) if visit is not None else limit


def _context(response: QuestionnaireResponse, visit: Visit | None) -> dict[str, Any]:
    from .services.visits import patient_local_when  # visits calls this module: import at use

    tz = response.patient.tz
    context: dict[str, Any] = {
        "questionnaire_url": intake_url(response),
        "questionnaire_until": patient_local_when(response.closes_at, tz),
    }
    if visit is not None:
        context |= {
            "visit_kind": visit.get_kind_display().lower(),
            "visit_when": patient_local_when(visit.starts_at, tz),
            "practitioner_name": str(visit.practitioner),
        }
    return context


def _sending_enabled() -> bool:
    """The clinic sends the questionnaire unless an admin unticked the *Intake questionnaire* nudge rule."""
    rule = NudgeRule.objects.filter(kind=NudgeKind.INTAKE_QUESTIONNAIRE).first()
    return rule is None or rule.enabled


def _reminder_offsets() -> list[int]:
    rule = NudgeRule.objects.filter(kind=NudgeKind.INTAKE_REMINDER).first()
    if rule is None:
        return list(DEFAULT_REMINDER_OFFSETS)
    if not rule.enabled:
        return []
    return [int(offset) for offset in rule.offsets_minutes or [] if int(offset) < 0]


def _schedule_again(*, key: str, **kwargs) -> Nudge:
    """Schedule under ``key``; when that nudge was withdrawn (moved away and back), under a fresh key."""
    nudge = nudge_schedule(dedupe_key=key, **kwargs)
    again = 1
    while nudge.status == Nudge.Status.CANCELLED:
        again += 1
        nudge = nudge_schedule(dedupe_key=f"{key}:again{again}", **kwargs)
    return nudge


def _schedule_reminders(response: QuestionnaireResponse, visit: Visit | None, *, now: datetime) -> None:
    if visit is None or not response.is_open:
        return
    for offset in sorted(set(_reminder_offsets())):
        send_at = visit.starts_at + timedelta(minutes=offset)
        if send_at <= now:
            continue
        _schedule_again(
            key=f"{_prefix(response)}reminder:{visit.starts_at.astimezone(UTC):%Y%m%dT%H%M}:{offset}",
            patient=response.patient,
            kind=NudgeKind.INTAKE_REMINDER,
            send_at=send_at,
            context=_context(response, visit),
            expires_at=response.closes_at,
        )


def _withdraw_reminders(response: QuestionnaireResponse, reason: str) -> int:
    return nudge_cancel(key_prefix=f"{_prefix(response)}reminder:", reason=reason)


def _send_link(response: QuestionnaireResponse, visit: Visit | None, *, now: datetime) -> Nudge:
    nudge = _schedule_again(
        key=f"{_prefix(response)}link",
        patient=response.patient,
        kind=NudgeKind.INTAKE_QUESTIONNAIRE,
        send_at=now,
        context=_context(response, visit),
        expires_at=response.closes_at,
    )
    response.link_nudge = nudge
    response.save(update_fields=["link_nudge"])
    return nudge


def _open_response(patient: Patient) -> QuestionnaireResponse | None:
    return (
        QuestionnaireResponse.objects.select_for_update(of=("self",))
        .select_related("patient", "questionnaire", "link_nudge")
        .filter(patient=patient, status__in=OPEN)
        .first()
    )


@transaction.atomic
def intake_send(
    *,
    patient: Patient,
    journey: Journey | None = None,
    visit: Visit | None = None,
    actor: User | None = None,
    now: datetime | None = None,
) -> QuestionnaireResponse | None:
    """Send the patient their intake questionnaire once. Already under way: the link is not sent again
    (unless it was withdrawn before it left), the visit's time sets its end and its reminder. Already
    submitted for this journey, no questionnaire published, or the *Intake questionnaire* nudge rule
    unticked: nothing is sent (``None``)."""
    now = now or timezone.now()
    response = _open_response(patient)
    if response is not None:
        if visit is not None:
            visit = _next_intake_visit(patient.pk) or visit  # the soonest booked intake sets the link's end
            response.visit = visit
            response.closes_at = _closes_at(response.questionnaire, visit, now=now)
            response.save(update_fields=["visit", "closes_at"])
            _withdraw_reminders(response, reason="intake visit booked again")
            _schedule_reminders(response, visit, now=now)
        if response.link_nudge is None or response.link_nudge.status == Nudge.Status.CANCELLED:
            _send_link(response, visit, now=now)
        return response
    submitted = QuestionnaireResponse.objects.filter(status=QuestionnaireResponse.Status.COMPLETED)
    if journey is not None and submitted.filter(journey=journey).exists():
        return None
    questionnaire = questionnaire_to_send()
    if questionnaire is None or patient.archived or not _sending_enabled():
        return None
    try:
        with transaction.atomic():
            response = QuestionnaireResponse.objects.create(
                patient=patient,
                journey=journey,
                visit=visit,
                questionnaire=questionnaire,
                sent_at=now,
                closes_at=_closes_at(questionnaire, visit, now=now),
            )
    except IntegrityError:  # another booking opened one a moment ago
        return _open_response(patient)
    response.patient = patient
    _send_link(response, visit, now=now)
    _schedule_reminders(response, visit, now=now)
    record_access(
        action=AccessEvent.Action.CREATE,
        actor=actor,
        patient_id=patient.pk,
        obj=response,
        detail=f"intake questionnaire “{questionnaire.title}” v{questionnaire.version} sent",
    )
    return response


def intake_visit_booked(*, visit: Visit, actor: User | None) -> QuestionnaireResponse | None:
    """``visit_schedule`` calls this for an intake visit."""
    return intake_send(patient=visit.patient, journey=visit.journey, visit=visit, actor=actor)


def intake_stage_reached(*, journey: Journey, actor: User | None) -> QuestionnaireResponse | None:
    """``journey_move`` calls this when a journey enters ``intake``: the booked intake visit, if any, sets
    the link's end."""
    visit = _next_intake_visit(journey.patient_id)
    return intake_send(patient=journey.patient, journey=journey, visit=visit, actor=actor)


def _next_intake_visit(patient_id: int, *, exclude: Visit | None = None) -> Visit | None:
    visits = Visit.objects.blocking().filter(
        patient_id=patient_id, kind=Visit.Kind.INTAKE, starts_at__gt=timezone.now()
    )
    if exclude is not None:
        visits = visits.exclude(pk=exclude.pk)
    return visits.select_related("practitioner").order_by("starts_at").first()


def _responses_of(visit: Visit) -> list[QuestionnaireResponse]:
    return list(
        QuestionnaireResponse.objects.select_for_update()
        .select_related("patient", "questionnaire")
        .filter(visit=visit, status__in=OPEN)
    )


def intake_visit_moved(*, visit: Visit, actor: User | None) -> None:
    """``visit_reschedule`` calls this: the reminder and the link's end follow the visit's new time."""
    now = timezone.now()
    for response in _responses_of(visit):
        response.closes_at = _closes_at(response.questionnaire, visit, now=max(now, response.sent_at))
        response.save(update_fields=["closes_at"])
        _withdraw_reminders(response, reason="intake visit rescheduled")
        _schedule_reminders(response, visit, now=now)


def intake_visit_cancelled(*, visit: Visit, actor: User | None) -> None:
    """``visit_cancel`` calls this: what has not gone out is withdrawn; a questionnaire nobody started is
    withdrawn with it (its link stops), one under way keeps the patient's words until its own end."""
    now = timezone.now()
    for response in _responses_of(visit):
        _withdraw_reminders(response, reason="intake visit cancelled")
        other = _next_intake_visit(response.patient_id, exclude=visit)
        if other is not None:  # another intake visit is still booked: the questionnaire now leads to that one
            response.visit = other
            response.closes_at = _closes_at(response.questionnaire, other, now=max(now, response.sent_at))
            response.save(update_fields=["visit", "closes_at"])
            _schedule_reminders(response, other, now=now)
            detail = "intake visit cancelled: the questionnaire now leads to the next intake visit"
        elif response.status == QuestionnaireResponse.Status.SENT:
            nudge_cancel(key_prefix=f"{_prefix(response)}link", reason="intake visit cancelled")
            response.status = QuestionnaireResponse.Status.WITHDRAWN
            response.visit = None
            response.save(update_fields=["status", "visit"])
            detail = "intake questionnaire withdrawn: its visit was cancelled"
        else:
            response.visit = None
            response.closes_at = response.sent_at + timedelta(days=response.questionnaire.link_valid_days)
            response.save(update_fields=["visit", "closes_at"])
            detail = "intake visit cancelled: the questionnaire under way stays open"
        record_access(
            action=AccessEvent.Action.UPDATE,
            actor=actor,
            patient_id=response.patient_id,
            obj=response,
            detail=detail,
        )


# --- Answering through the link ---------------------------------------------------------------------


def intake_refusal(response: QuestionnaireResponse, *, now: datetime | None = None) -> str | None:
    """Why the link may not change this response now, or ``None``."""
    now = now or timezone.now()
    if response.status == QuestionnaireResponse.Status.COMPLETED:
        return Refusal.SUBMITTED
    if response.status == QuestionnaireResponse.Status.WITHDRAWN:
        return Refusal.WITHDRAWN
    if response.closes_at <= now:
        return Refusal.CLOSED
    return None


def _refuse(response: QuestionnaireResponse, now: datetime) -> None:
    refusal = intake_refusal(response, now=now)
    if refusal is not None:
        raise ValidationError("This questionnaire can no longer change.", code=refusal)


def _locked(response: QuestionnaireResponse) -> QuestionnaireResponse:
    return QuestionnaireResponse.objects.select_for_update().select_related("patient").get(pk=response.pk)


@transaction.atomic
def intake_section_save(
    *,
    response: QuestionnaireResponse,
    section: QuestionnaireSection,
    values: dict[str, Any],
    now: datetime | None = None,
) -> QuestionnaireResponse:
    """Save one section's answers (``values``: link id → cleaned value; empty ones clear the answer).
    Refused, changing nothing, once the response is submitted, withdrawn or closed."""
    now = now or timezone.now()
    response = _locked(response)
    _refuse(response, now)
    if section.questionnaire_id != response.questionnaire_id:
        raise ValidationError("That section belongs to another questionnaire.", code="foreign_section")
    questions = {q.link_id: q for q in QuestionnaireQuestion.objects.filter(section=section)}
    existing = {
        a.link_id: a for a in QuestionnaireAnswer.objects.filter(response=response, question__section=section)
    }
    empty = [link for link, value in values.items() if link in questions and value in (None, "", [], {})]
    QuestionnaireAnswer.objects.filter(response=response, link_id__in=empty).delete()
    for link_id, value in values.items():
        if link_id not in questions or link_id in empty:
            continue
        answer = existing.get(link_id)
        if answer is None:
            QuestionnaireAnswer.objects.create(
                response=response, question=questions[link_id], link_id=link_id, value=value, saved_at=now
            )
        elif answer.value != value:
            answer.value, answer.saved_at = value, now
            answer.save(update_fields=["value", "saved_at"])
    if section.link_id not in response.sections_done:
        response.sections_done = [*response.sections_done, section.link_id]
    if response.status == QuestionnaireResponse.Status.SENT:
        response.status, response.started_at = QuestionnaireResponse.Status.IN_PROGRESS, now
    response.save(update_fields=["sections_done", "status", "started_at"])
    record_access(
        action=AccessEvent.Action.UPDATE,
        patient_id=response.patient_id,
        obj=response,
        actor_label="the patient, by their link",
        detail=f"intake section “{section.link_id}” saved",
    )
    return response


def agreements_to_sign() -> list[Agreement]:
    return list(Agreement.objects.filter(active=True).order_by("position", "id"))


def text_digest(title: str, text: str) -> str:
    return hashlib.sha256(f"{title}\n\n{text}".encode()).hexdigest()


@transaction.atomic
def intake_submit(
    *,
    response: QuestionnaireResponse,
    signed_name: str,
    agreed: dict[int, int],
    now: datetime | None = None,
) -> QuestionnaireResponse:
    """Submit the questionnaire and sign every active agreement. ``agreed``: agreement id → the version the
    patient was shown and ticked; each signature keeps that exact text, the time, and the address and
    browser the request came from. All or nothing; refused once submitted, withdrawn or closed."""
    now = now or timezone.now()
    response = _locked(response)
    _refuse(response, now)
    signed_name = " ".join(signed_name.split())
    if not signed_name:
        raise ValidationError("Please type your full name to sign.", code="name")
    agreements = list(Agreement.objects.select_for_update().filter(active=True).order_by("position", "id"))
    changed = [a for a in agreements if a.pk in agreed and agreed[a.pk] != a.version]
    if changed:
        raise ValidationError(
            "The clinic has just updated its wording: please read it again before ticking.",
            code="agreement_changed",
        )
    if any(a.pk not in agreed for a in agreements):
        raise ValidationError("Please tick each agreement to sign it.", code="agreements")
    where = current_audit_context()
    AgreementSignature.objects.bulk_create(
        AgreementSignature(
            response=response,
            agreement=agreement,
            agreement_version=agreement.version,
            title=agreement.title,
            text=agreement.body,
            text_sha256=text_digest(agreement.title, agreement.body),
            signed_name=signed_name[:200],
            signed_at=now,
            ip_address=where.ip_address,
            user_agent=where.user_agent[:255],
        )
        for agreement in agreements
    )
    response.status, response.submitted_at = QuestionnaireResponse.Status.COMPLETED, now
    response.started_at = response.started_at or now
    response.save(update_fields=["status", "submitted_at", "started_at"])
    _withdraw_reminders(response, reason="intake questionnaire submitted")
    record_access(
        action=AccessEvent.Action.UPDATE,
        patient_id=response.patient_id,
        obj=response,
        actor_label="the patient, by their link",
        detail=f"intake questionnaire submitted; {len(agreements)} agreement(s) signed",
    )
    return response


# --- The practitioner's side ------------------------------------------------------------------------


@transaction.atomic
def intake_carry_medications(*, response: QuestionnaireResponse, actor: User) -> int:
    """Add the medications and supplements the patient listed to the first blueprint's draft (opened if the
    journey has no plan yet), skipping names already on it; return how many were added."""
    from .services.blueprints import blueprint_add_item, blueprint_start_draft  # blueprints: a sibling floor

    if response.status != QuestionnaireResponse.Status.COMPLETED:
        raise ValidationError("The intake questionnaire has not been submitted yet.")
    journey = response.journey or Journey.objects.open().filter(patient_id=response.patient_id).first()
    if journey is None or not journey.is_open:
        raise ValidationError("The patient has no open journey to plan for.", code="no_journey")
    draft = journey.blueprints.filter(status=Blueprint.Status.DRAFT).first()
    if draft is None:
        if journey.blueprints.exists():
            raise ValidationError(
                "The first plan is already published: start a revision, then add them from there.",
                code="published",
            )
        draft = blueprint_start_draft(journey=journey, actor=actor)
    rows = [
        row
        for answer in QuestionnaireAnswer.objects.filter(
            response=response, question__kind=QuestionKind.MEDICATIONS
        ).order_by("question__section__position", "question__position")
        for row in (answer.value or [])
        if isinstance(row, dict) and (row.get("name") or "").strip()
    ]
    on_plan = {title.casefold() for title in draft.items.values_list("title", flat=True)}
    added = 0
    for row in rows:
        name = row["name"].strip()[:200]
        if name.casefold() in on_plan:
            continue
        blueprint_add_item(
            blueprint=draft,
            actor=actor,
            kind=ItemKind.SUPPLEMENT,
            title=name,
            dose=(row.get("dose") or "").strip()[:100],
            frequency=(row.get("frequency") or "").strip()[:100],
            instructions="Taken before the program (from the intake questionnaire).",
        )
        on_plan.add(name.casefold())
        added += 1
    response.carried_to_blueprint_at = timezone.now()
    response.save(update_fields=["carried_to_blueprint_at"])
    return added


# --- What admins edit ------------------------------------------------------------------------------


@transaction.atomic
def agreement_save(*, agreement: Agreement, actor: User | None = None) -> Agreement:
    """Save an admin's edit; new wording (title or text) makes a new version, so every signature keeps the
    exact version it signed."""
    if agreement.pk is not None:
        before = Agreement.objects.select_for_update().get(pk=agreement.pk)
        if (before.title, before.body) != (agreement.title, agreement.body):
            agreement.version = before.version + 1
            agreement.updated_at = timezone.now()
        else:
            agreement.version = before.version
    agreement.save()
    return agreement


def _check_publishable(questionnaire: Questionnaire) -> None:
    sections = list(questionnaire.sections.prefetch_related("questions"))
    if not sections or not any(s.questions.all() for s in sections):
        raise ValidationError("A questionnaire needs at least one section with a question.")
    seen: set[str] = set()
    for section in sections:
        for link_id in [section.link_id, *(q.link_id for q in section.questions.all())]:
            if link_id in seen:
                raise ValidationError(f"The link id “{link_id}” is used twice: each must be unique.")
            seen.add(link_id)
        for question in section.questions.all():
            choice = question.kind in (QuestionKind.SINGLE_CHOICE, QuestionKind.MULTIPLE_CHOICE)
            if choice and len(question.option_list) < 2:
                raise ValidationError(f"“{question.text}” needs at least two options, one per line.")


@transaction.atomic
def questionnaire_publish(*, questionnaire: Questionnaire) -> Questionnaire:
    """Publish a draft: it becomes the version sent, the one published before it retires. From now on it
    never changes; responses to earlier versions keep theirs."""
    questionnaire = Questionnaire.objects.select_for_update().get(pk=questionnaire.pk)
    if not questionnaire.is_editable:
        raise ValidationError("Only a draft can be published.")
    _check_publishable(questionnaire)
    Questionnaire.objects.filter(slug=questionnaire.slug, status=Questionnaire.Status.ACTIVE).update(
        status=Questionnaire.Status.RETIRED
    )
    questionnaire.status, questionnaire.published_at = Questionnaire.Status.ACTIVE, timezone.now()
    questionnaire.save(update_fields=["status", "published_at"])
    return questionnaire


@transaction.atomic
def questionnaire_new_version(*, questionnaire: Questionnaire) -> Questionnaire:
    """A draft copy of a version, numbered after the newest, to edit and publish in its place."""
    if Questionnaire.objects.filter(slug=questionnaire.slug, status=Questionnaire.Status.DRAFT).exists():
        raise ValidationError("This questionnaire already has a draft: edit that one.")
    latest = Questionnaire.objects.filter(slug=questionnaire.slug).aggregate(v=Max("version"))["v"] or 0
    copy = Questionnaire.objects.create(
        slug=questionnaire.slug,
        version=latest + 1,
        title=questionnaire.title,
        intro=questionnaire.intro,
        link_valid_days=questionnaire.link_valid_days,
    )
    for section in questionnaire.sections.prefetch_related("questions"):
        questions = list(section.questions.all())
        section.pk, section.questionnaire = None, copy
        section.save()
        for question in questions:
            question.pk, question.section = None, section
        QuestionnaireQuestion.objects.bulk_create(questions)
    return copy


def answer_is_empty(value: Any) -> bool:
    return value in (None, "", [], {})
