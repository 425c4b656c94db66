"""Visit pages: book, open, move, close, download to a calendar; and the visit notes written on them."""

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import AccessEvent
from accounts.permissions import CLINICAL, EVERYONE, role_required
from accounts.refusals import add_service_error, validation_message
from patients.selectors import patient_get_for

from .. import intake_selectors
from ..forms.visits import (
    FIELD_FOR_CODE,
    AddendumForm,
    VisitCancelForm,
    VisitNoteForm,
    VisitRescheduleForm,
    VisitScheduleForm,
)
from ..models import Visit, VisitNote
from ..selectors import visits as selectors
from ..services import notes as note_services
from ..services import visits as services
from ..services.visits import EARLY_CLOSE


def tell_booked(request, visit, patient, *, naming_patient: bool = False) -> None:
    """The booking's messages: when and with whom (and for whom, from a page that is not the patient's), and
    the quiet-hours warning when the patient's reminders would be held back."""
    local = timezone.localtime(visit.starts_at)
    whom = f" for {patient.display_name}" if naming_patient else ""
    messages.success(
        request,
        f"{visit.get_kind_display()} booked{whom} with {visit.practitioner} on {local:%A} {local.day} "
        f"{local:%B at %H:%M}. Reminders will go out as the clinic's rules say.",
    )
    if warning := services.visit_quiet_hours_warning(patient=patient, starts_at=visit.starts_at):
        messages.warning(request, warning)


def _visit_url(visit) -> str:
    return reverse("journeys:visit_detail", args=[visit.pk])


def _note_url(note) -> str:
    return reverse("journeys:note_detail", args=[note.pk])


def _read_or_change(request) -> str:
    return AccessEvent.Action.VIEW if request.method == "GET" else AccessEvent.Action.UPDATE


# --- Visits ---------------------------------------------------------------------------------------


@role_required(*EVERYONE)
def visit_create(request, patient_pk):
    patient = patient_get_for(user=request.user, pk=patient_pk, action=_read_or_change(request))
    journey = selectors.patient_open_journey(patient)
    form = VisitScheduleForm(request.POST or None, patient=patient, journey=journey)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            visit = services.visit_schedule(
                patient=patient,
                practitioner=data["practitioner"],
                kind=data["kind"],
                starts_at=data["starts_at"],
                duration_minutes=data["duration_minutes"],
                location=data["location"],
                actor=request.user,
                journey=journey,
            )
        except ValidationError as error:
            add_service_error(form, error, fields=FIELD_FOR_CODE)
        else:
            tell_booked(request, visit, patient)
            return redirect(_visit_url(visit))
    return render(request, "journeys/visit_form.html", {"form": form, "patient": patient, "visit": None})


def _can_close(visit) -> bool:
    return visit.status == Visit.Status.SCHEDULED and visit.starts_at - EARLY_CLOSE <= timezone.now()


@role_required(*EVERYONE)
def visit_detail(request, pk):
    visit = selectors.visit_get_for(user=request.user, pk=pk)
    return render(
        request,
        "journeys/visit_detail.html",
        {
            "visit": visit,
            "patient": visit.patient,
            "notes": selectors.visit_notes(visit),
            "reminders": selectors.visit_reminders(visit),
            "can_close": _can_close(visit),
            "cancel_form": VisitCancelForm(),
            "clinic_time_zone": settings.TIME_ZONE,
        },
    )


@role_required(*EVERYONE)
def visit_reschedule(request, pk):
    visit = selectors.visit_get_for(user=request.user, pk=pk, action=_read_or_change(request))
    if visit.status != Visit.Status.SCHEDULED:
        messages.error(
            request, f"This visit is {visit.get_status_display().lower()}: it can no longer be moved."
        )
        return redirect(_visit_url(visit))
    form = VisitRescheduleForm(request.POST or None, visit=visit)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            visit = services.visit_reschedule(
                visit=visit,
                starts_at=data["starts_at"],
                duration_minutes=data["duration_minutes"],
                practitioner=data["practitioner"],
                location=data["location"],
                actor=request.user,
            )
        except ValidationError as error:
            add_service_error(form, error, fields=FIELD_FOR_CODE)
        else:
            messages.success(request, "The visit was moved; its reminders follow the new time.")
            return redirect(_visit_url(visit))
    return render(
        request, "journeys/visit_form.html", {"form": form, "patient": visit.patient, "visit": visit}
    )


def _visit_for_change(request, pk):
    return selectors.visit_get_for(user=request.user, pk=pk, action=AccessEvent.Action.UPDATE)


@role_required(*EVERYONE)
@require_POST
def visit_cancel(request, pk):
    visit = _visit_for_change(request, pk)
    form = VisitCancelForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    try:
        services.visit_cancel(visit=visit, actor=request.user, reason=reason)
    except ValidationError as error:
        messages.error(request, validation_message(error))
    else:
        messages.success(request, "The visit was cancelled; reminders not yet sent were withdrawn.")
    return redirect(_visit_url(visit))


@role_required(*EVERYONE)
@require_POST
def visit_complete(request, pk):
    visit = _visit_for_change(request, pk)
    try:
        services.visit_complete(visit=visit, actor=request.user)
    except ValidationError as error:
        messages.error(request, validation_message(error))
    else:
        messages.success(request, "Marked completed.")
    return redirect(_visit_url(visit))


@role_required(*EVERYONE)
@require_POST
def visit_no_show(request, pk):
    visit = _visit_for_change(request, pk)
    try:
        services.visit_no_show(visit=visit, actor=request.user)
    except ValidationError as error:
        messages.error(request, validation_message(error))
    else:
        messages.success(request, "Marked as a no-show. A kind word to the patient may help them come back.")
    return redirect(_visit_url(visit))


@never_cache
@role_required(*EVERYONE)
@require_GET
def visit_calendar(request, pk):
    visit = selectors.visit_get_for(user=request.user, pk=pk, action=AccessEvent.Action.EXPORT)
    content = selectors.visit_calendar(visit, sequence=selectors.visit_sequence(visit))
    response = HttpResponse(content, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="visit-{visit.pk}.ics"'
    return response


# --- Visit notes ----------------------------------------------------------------------------------


@role_required(*CLINICAL)
def note_create(request, pk):
    visit = selectors.visit_get_for(user=request.user, pk=pk, action=_read_or_change(request))
    form = VisitNoteForm(request.POST or None, visit=visit)
    if request.method == "POST" and form.is_valid():
        try:
            note = note_services.note_create(
                visit=visit,
                author=request.user,
                title=form.cleaned_data["title"],
                body=form.cleaned_data["body"],
                sections=form.sections(),
            )
        except ValidationError as error:
            add_service_error(form, error, fields=FIELD_FOR_CODE)
        else:
            return _saved(request, note)
    return render(request, "journeys/note_form.html", _note_form_context(request, form, visit, None))


def _note_form_context(request, form, visit, note) -> dict:
    """The note form, and beside an intake visit's note the patient's submitted intake (audited as read)."""
    intake = (
        intake_selectors.intake_summary_for_visit(user=request.user, visit=visit) if form.intake else None
    )
    return {"form": form, "visit": visit, "note": note, "intake": intake}


def _saved(request, note):
    """After a save: to the note, or, when "Save and sign…" was pressed, to the step that confirms signing."""
    if "sign" in request.POST:
        messages.success(request, "Note saved. Read it once more: signing locks it.")
        return redirect("journeys:note_sign", pk=note.pk)
    messages.success(request, "Note saved.")
    return redirect(_note_url(note))


@role_required(*EVERYONE)
def note_detail(request, pk):
    note = selectors.note_get_for(user=request.user, pk=pk)
    sections = [
        (label, note.sections[key])
        for key, label in VisitNote.INTAKE_SECTIONS.items()
        if note.sections.get(key)
    ]
    return render(
        request,
        "journeys/note_detail.html",
        {
            "note": note,
            "visit": note.visit,
            "patient": note.visit.patient,
            "sections": sections,
            "addenda": selectors.note_addenda(note),
            "is_author": note.author_id == request.user.pk,
            "addendum_form": AddendumForm(),
        },
    )


@role_required(*CLINICAL)
def note_edit(request, pk):
    note = selectors.note_get_for(user=request.user, pk=pk, action=_read_or_change(request))
    if note.author_id != request.user.pk:
        raise PermissionDenied("Only the note's author can edit it.")
    if note.is_signed and request.method == "GET":
        messages.error(request, "This note is signed and can no longer change. Add an addendum instead.")
        return redirect(_note_url(note))
    form = VisitNoteForm(request.POST or None, visit=note.visit, note=note)
    if request.method == "POST" and form.is_valid():
        try:
            note_services.note_update(
                note=note,
                actor=request.user,
                title=form.cleaned_data["title"],
                body=form.cleaned_data["body"],
                sections=form.sections(),
            )
        except ValidationError as error:
            add_service_error(form, error, fields=FIELD_FOR_CODE)
        else:
            return _saved(request, note)
    return render(request, "journeys/note_form.html", _note_form_context(request, form, note.visit, note))


@role_required(*CLINICAL)
@require_http_methods(["GET", "POST"])
def note_sign(request, pk):
    """Signing, in two steps: the page shows the note and says that signing locks it; only its "Sign and
    lock" (``confirm=yes``) signs. A visit that has not begun yet offers no signing at all."""
    note = selectors.note_get_for(user=request.user, pk=pk, action=_read_or_change(request))
    if note.author_id != request.user.pk:
        raise PermissionDenied("Only the note's author can sign it.")
    if note.is_signed:
        messages.info(request, "This note is signed already and can no longer change.")
        return redirect(_note_url(note))
    if request.method == "POST":
        if request.POST.get("confirm") != "yes":
            messages.error(request, "The note was not signed: confirm below that signing locks it.")
            return redirect("journeys:note_sign", pk=note.pk)
        try:
            note_services.note_sign(note=note, actor=request.user)
        except ValidationError as error:
            messages.error(request, validation_message(error))
        else:
            messages.success(
                request, "Note signed: it can no longer change. Corrections are added as addenda."
            )
        return redirect(_note_url(note))
    sections = [
        (label, note.sections[key])
        for key, label in VisitNote.INTAKE_SECTIONS.items()
        if note.sections.get(key)
    ]
    return render(
        request,
        "journeys/note_sign.html",
        {"note": note, "visit": note.visit, "patient": note.visit.patient, "sections": sections},
    )


@role_required(*CLINICAL)
def note_addendum(request, pk):
    note = selectors.note_get_for(user=request.user, pk=pk, action=_read_or_change(request))
    form = AddendumForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            addendum = note_services.note_add_addendum(
                note=note,
                author=request.user,
                title=form.cleaned_data["title"],
                body=form.cleaned_data["body"],
                sign="sign" in request.POST,
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, "Addendum added.")
            return redirect(f"{_note_url(addendum.addendum_to)}#note-{addendum.pk}")
    return render(request, "journeys/note_addendum.html", {"form": form, "note": note, "visit": note.visit})
