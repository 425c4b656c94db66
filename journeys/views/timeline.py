"""The patient's timeline, a page at a time ("show older"), and starting a journey from the patient's page."""

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_POST

from accounts.models import AccessEvent
from accounts.permissions import EVERYONE, role_required
from accounts.refusals import validation_message
from patients.selectors import patient_get_for

from ..panels.timeline import TIMELINE_PAGES_PARAM, timeline_context
from ..selectors.timeline import PAGE_SIZE, patient_timeline, startable_programs
from ..services.stages import journey_start


class JourneyStartForm(forms.Form):
    program = forms.ModelChoiceField(
        queryset=startable_programs(),
        required=False,
        empty_label="Not chosen yet",
        error_messages={"invalid_choice": "That program is not offered any more: choose another one."},
    )


def _patient_page(patient, **query) -> str:
    url = reverse("dashboard:patient", args=[patient.pk])
    if query:
        url += "?" + urlencode(query)
    return url


@role_required(*EVERYONE)
@require_GET
def timeline(request, patient_pk):
    """One page of the timeline for htmx to append; a plain request goes to the patient's page instead."""
    try:
        page = max(int(request.GET.get("page", 1)), 1)
    except ValueError:
        page = 1
    patient = patient_get_for(user=request.user, pk=patient_pk)
    if not request.htmx:
        return redirect(
            _patient_page(patient, tab="journey", **{TIMELINE_PAGES_PARAM: page}) + "#panel-timeline"
        )
    entries = patient_timeline(patient=patient, user=request.user, offset=(page - 1) * PAGE_SIZE)
    return render(
        request, "journeys/_timeline.html", {"patient": patient, "panel": timeline_context(entries)}
    )


@role_required(*EVERYONE)
@require_POST
def start(request, patient_pk):
    patient = patient_get_for(user=request.user, pk=patient_pk, action=AccessEvent.Action.CREATE)
    form = JourneyStartForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"No journey was started: {validation_message(form)}")
    else:
        try:
            journey_start(patient=patient, actor=request.user, program=form.cleaned_data["program"])
        except ValidationError as error:
            messages.error(request, f"No journey was started: {validation_message(error)}")
        else:
            messages.success(request, f"{patient.display_name}'s journey has started at Inquiry.")
    return redirect(patient.section_url("journey"))
