"""The patient's check-in page (public, proven by its signed link) and the clinic's phone entry of an answer."""

from __future__ import annotations

from django.contrib import messages
from django.core import signing
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from accounts.models import AccessEvent
from accounts.permissions import EVERYONE, role_required
from accounts.refusals import validation_message
from journeys.models import CheckIn
from journeys.tokens import read_checkin_token
from patients.selectors import patient_get_for

from . import services
from .forms import CheckInAnswerForm
from .models import CheckInAnswer, ClinicSettings
from .services import REFUSAL_MESSAGES, Refusal

REFUSAL_PAGES = {
    Refusal.MISSED: "compliance/checkin_closed.html",
    Refusal.CLOSED: "compliance/checkin_closed.html",
    Refusal.RECEIVED: "compliance/checkin_received.html",
}


def _answer_of(checkin: CheckIn) -> CheckInAnswer | None:
    return CheckInAnswer.objects.filter(checkin=checkin).prefetch_related("logs").first()


def _first_name(patient) -> str:
    return patient.preferred_name or patient.first_name


def _record(request, *, checkin, form, **how) -> tuple[CheckInAnswer | None, CheckInAnswerForm]:
    """(the answer, the form); a refusal of the form's data lands on the form, a refusal of the check-in
    (closed, missed, final) is raised for the caller."""
    try:
        answer = services.checkin_answer_record(checkin=checkin, **form.answer_data(), **how)
    except ValidationError as error:
        code = getattr(error, "code", None)
        if code in REFUSAL_MESSAGES:
            raise
        if code == Refusal.ITEMS_CHANGED:  # the plan was revised while the form was open: ask about it anew
            form = CheckInAnswerForm(request.POST, items=services.checkin_answerable_items(checkin))
        form.add_error(None, error)
        return None, form
    return answer, form


@never_cache
@require_http_methods(["GET", "POST"])
def checkin_answer(request, token):
    """Public: the patient answers their check-in, or changes the answer while the clinic allows it."""
    try:
        checkin_id = read_checkin_token(token)  # no max_age: the check-in's own window is the guard
    except signing.BadSignature:
        return render(request, "compliance/checkin_invalid.html", status=400)
    checkin = CheckIn.objects.select_related("journey__patient").filter(pk=checkin_id).first()
    if checkin is None:
        return render(request, "compliance/checkin_unknown.html", status=404)
    patient = checkin.journey.patient
    # Whoever holds the link sees a first name at most, and their plan's item names.
    context = {"first_name": _first_name(patient), "zone": patient.time_zone, "checkin": checkin}
    amend_hours = ClinicSettings.load().amend_hours
    answer = _answer_of(checkin)
    refusal = services.checkin_answer_refusal(
        checkin=checkin,
        answer=answer,
        via=CheckInAnswer.Via.LINK,
        now=timezone.now(),
        amend_hours=amend_hours,
    )
    if refusal is not None:
        return render(request, REFUSAL_PAGES[refusal], context)
    form = CheckInAnswerForm(
        request.POST if request.method == "POST" else None,
        items=services.checkin_answerable_items(checkin),
        answer=answer,
    )
    if request.method == "POST" and form.is_valid():
        try:
            recorded, form = _record(request, checkin=checkin, form=form, via=CheckInAnswer.Via.LINK)
        except ValidationError as error:
            return render(request, REFUSAL_PAGES[error.code], context)
        if recorded is not None:
            until = services.answer_changeable_until(recorded, amend_hours=amend_hours)
            return render(
                request,
                "compliance/checkin_thanks.html",
                {**context, "until": until, "changed": answer is not None},
            )
    if answer is not None:
        context["until"] = services.answer_changeable_until(answer, amend_hours=amend_hours)
    return render(request, "compliance/checkin_answer.html", {**context, "form": form, "answer": answer})


@role_required(*EVERYONE)
@require_http_methods(["GET", "POST"])
def checkin_enter(request, pk):
    """The clinic enters the answer a patient gave by phone (late, if need be), or changes it while it may."""
    checkin = get_object_or_404(CheckIn.objects.select_related("journey"), pk=pk)
    action = AccessEvent.Action.VIEW if request.method == "GET" else AccessEvent.Action.UPDATE
    patient = patient_get_for(user=request.user, pk=checkin.journey.patient_id, action=action)
    amend_hours = ClinicSettings.load().amend_hours
    answer = _answer_of(checkin)
    refusal = services.checkin_answer_refusal(
        checkin=checkin,
        answer=answer,
        via=CheckInAnswer.Via.PHONE,
        now=timezone.now(),
        amend_hours=amend_hours,
    )
    if refusal is not None:
        messages.info(request, REFUSAL_MESSAGES[refusal])
        return redirect(patient.get_absolute_url())
    form = CheckInAnswerForm(
        request.POST if request.method == "POST" else None,
        items=services.checkin_answerable_items(checkin),
        answer=answer,
    )
    if request.method == "POST" and form.is_valid():
        try:
            recorded, form = _record(
                request, checkin=checkin, form=form, via=CheckInAnswer.Via.PHONE, entered_by=request.user
            )
        except ValidationError as error:
            messages.info(request, validation_message(error))
            return redirect(patient.get_absolute_url())
        if recorded is not None:
            due, done = checkin.due_on, "changed" if answer is not None else "recorded"
            messages.success(
                request,
                f"{patient.display_name}'s check-in due {due.day} {due:%b} is {done}, taken by phone.",
            )
            return redirect(patient.get_absolute_url())
    context = {"patient": patient, "checkin": checkin, "form": form, "answer": answer}
    if answer is not None:
        context["until"] = services.answer_changeable_until(answer, amend_hours=amend_hours)
    return render(request, "compliance/checkin_enter.html", context)
