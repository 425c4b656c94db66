"""Visit notes: written by practitioners and admins, edited by their author until signed, then never again.

A correction to a signed note is an addendum: a new note pointing at the original, itself signable.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.audit import record_access
from accounts.models import AccessEvent, User

from ..models import Visit, VisitNote


def _require_clinician(user: User) -> None:
    if not user.can_read_clinical:
        raise ValidationError("Only practitioners and admins write visit notes.", code="not_clinical")


def _require_unsigned(note: VisitNote) -> None:
    if note.is_signed:
        local = timezone.localtime(note.signed_at)
        raise ValidationError(
            f"This note was signed on {local.day} {local:%b %Y at %H:%M} and can no longer change. "
            "Add an addendum to correct or complete it.",
            code="signed",
        )


def _require_author(note: VisitNote, actor: User) -> None:
    if note.author_id != actor.pk:
        raise ValidationError("Only the note's author can change or sign it.", code="not_author")


def _require_visit_begun(visit: Visit) -> None:
    """A note is signed for what happened: never before its visit has begun."""
    if not visit.has_begun:
        local = timezone.localtime(visit.starts_at)
        raise ValidationError(
            f"This visit begins on {local.day} {local:%b %Y at %H:%M}: a note can be signed once the visit has "
            "begun. Save it now and sign it after.",
            code="visit_not_begun",
        )


def _clean_sections(visit: Visit, sections: dict | None) -> dict:
    if not sections:
        return {}
    if visit.kind != Visit.Kind.INTAKE:
        raise ValidationError("Story, tried, fears and goals are kept for intake visits only.")
    unknown = set(sections) - set(VisitNote.INTAKE_SECTIONS)
    if unknown:
        raise ValidationError(f"Unknown intake section: {', '.join(sorted(unknown))}.")
    return {
        key: str(sections[key]).strip()
        for key in VisitNote.INTAKE_SECTIONS
        if str(sections.get(key) or "").strip()
    }


def _clean(title: str, body: str, sections: dict) -> tuple[str, str]:
    title, body = (title or "").strip(), (body or "").strip()
    if not title:
        raise ValidationError("Give the note a title.", code="title_required")
    if not body and not sections:
        raise ValidationError("The note is empty: write what happened before saving it.", code="empty")
    return title, body


@transaction.atomic
def note_create(
    *,
    visit: Visit,
    author: User,
    title: str,
    body: str = "",
    sections: dict[str, Any] | None = None,
    sign: bool = False,
) -> VisitNote:
    """A practitioner's or admin's note on a visit; intake visits may carry the four intake sections."""
    _require_clinician(author)
    sections = _clean_sections(visit, sections)
    title, body = _clean(title, body, sections)
    if sign:
        _require_visit_begun(visit)
    now = timezone.now()
    note = VisitNote.objects.create(
        visit=visit,
        author=author,
        title=title,
        body=body,
        sections=sections,
        created_at=now,
        signed_at=now if sign else None,
    )
    record_access(
        action=AccessEvent.Action.CREATE,
        actor=author,
        patient_id=visit.patient_id,
        obj=note,
        detail="note written and signed" if sign else "note written",
    )
    return note


@transaction.atomic
def note_update(
    *,
    note: VisitNote,
    actor: User,
    title: str,
    body: str = "",
    sections: dict[str, Any] | None = None,
    sign: bool = False,
) -> VisitNote:
    """Change an unsigned note (and sign it, if asked); only its author may, and a signed note is refused."""
    note = VisitNote.objects.select_for_update().select_related("visit").get(pk=note.pk)
    _require_unsigned(note)
    _require_author(note, actor)
    sections = {} if note.addendum_to_id else _clean_sections(note.visit, sections)
    note.title, note.body = _clean(title, body, sections)
    note.sections = sections
    if sign:
        _require_visit_begun(note.visit)
        note.signed_at = timezone.now()
    note.save(update_fields=["title", "body", "sections", "signed_at", "updated_at"])
    record_access(
        action=AccessEvent.Action.UPDATE,
        actor=actor,
        patient_id=note.visit.patient_id,
        obj=note,
        detail="note edited and signed" if sign else "note edited",
    )
    return note


@transaction.atomic
def note_sign(*, note: VisitNote, actor: User) -> VisitNote:
    """Sign a note: from now on it never changes. Only its author signs, only once, and only once its visit
    has begun."""
    note = VisitNote.objects.select_for_update().select_related("visit").get(pk=note.pk)
    _require_unsigned(note)
    _require_author(note, actor)
    _require_visit_begun(note.visit)
    note.signed_at = timezone.now()
    note.save(update_fields=["signed_at", "updated_at"])
    record_access(
        action=AccessEvent.Action.UPDATE,
        actor=actor,
        patient_id=note.visit.patient_id,
        obj=note,
        detail="note signed",
    )
    return note


@transaction.atomic
def note_add_addendum(
    *, note: VisitNote, author: User, body: str, title: str = "", sign: bool = False
) -> VisitNote:
    """Correct or complete a signed note with an addendum (attached to the original note, never to an addendum)."""
    _require_clinician(author)
    original = VisitNote.objects.select_related("visit").get(pk=note.addendum_to_id or note.pk)
    if not original.is_signed:
        raise ValidationError(
            "This note is not signed yet: its author can still edit it, so no addendum is needed.",
            code="unsigned",
        )
    title = (title or "").strip() or f"Addendum to “{original.title}”"[:200]
    body = (body or "").strip()
    if not body:
        raise ValidationError(
            "The addendum is empty: write the correction or what was missing.", code="empty"
        )
    now = timezone.now()
    addendum = VisitNote.objects.create(
        visit_id=original.visit_id,
        author=author,
        title=title,
        body=body,
        addendum_to=original,
        created_at=now,
        signed_at=now if sign else None,
    )
    record_access(
        action=AccessEvent.Action.CREATE,
        actor=author,
        patient_id=original.visit.patient_id,
        obj=addendum,
        detail=f"addendum to note {original.pk}" + (", signed" if sign else ""),
    )
    return addendum
