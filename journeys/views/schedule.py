"""Booking a visit from one of the schedule's free slots: the form (a panel of the schedule with htmx, its own
page without), the check of the booking rules as its fields change, and the patient search it offers.

Every rule is ``journeys.services.visits``': the check asks ``visit_slot_check`` (read-only), the booking
``visit_schedule`` (under the practitioner's lock), and the quiet-hours warning is the service's own.
"""

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.audit import record_list
from accounts.permissions import EVERYONE, role_required
from accounts.refusals import add_service_error, validation_message
from patients.models import Patient
from patients.selectors import patient_find

from ..forms.schedule import SlotBookingForm, SlotCheckForm
from ..forms.visits import FIELD_FOR_CODE
from ..selectors.visits import patient_open_journey
from ..services import visits as services
from .visits import tell_booked

BOOKING_FIELDS = ("practitioner", "starts_at", "kind", "duration_minutes", "location", "patient")


def _back_url(request) -> str:
    """The schedule the booking came from (a path on this site), else the schedule."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if (
        target.startswith("/")
        and url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
        and "\x00" not in target
    ):
        return target
    return reverse("dashboard:schedule")


def _chosen_patient(data) -> Patient | None:
    pk = str(data.get("patient") or "")
    return Patient.objects.active().filter(pk=int(pk)).first() if pk.isdigit() else None


def _check(data, *, patient: Patient | None = None) -> dict:
    """What the booking rules say of a time, length and practitioner (``data`` as the form holds them):
    ``refusal`` in the service's words, or ``ok`` with the service's warnings."""
    form = SlotCheckForm(data)
    if not form.is_valid():
        return {"refusal": validation_message(form)}
    practitioner, starts_at, minutes = (
        form.cleaned_data["practitioner"],
        form.cleaned_data["starts_at"],
        form.minutes(),
    )
    try:
        services.visit_slot_check(practitioner=practitioner, starts_at=starts_at, duration_minutes=minutes)
    except ValidationError as error:
        return {"refusal": validation_message(error)}
    warnings = [
        services.visit_hours_warning(practitioner=practitioner, starts_at=starts_at, duration_minutes=minutes)
    ]
    if patient is not None:
        warnings.append(services.visit_quiet_hours_warning(patient=patient, starts_at=starts_at))
    return {
        "ok": True,
        "practitioner": practitioner,
        "starts_at": starts_at,
        "ends_at": starts_at + timedelta(minutes=minutes),
        "warnings": [warning for warning in warnings if warning],
    }


def _matches(query: str) -> list[Patient]:
    """A few patients whose name, email or phone match ``query``; the listing is audited."""
    found = patient_find(query) if len(query.strip()) >= 2 else []
    if found:
        record_list(patient_ids=[p.pk for p in found], query=f"q={query}", what="booking search")
    return found


def _render(request, form, *, data, status: int = 200, check: bool = True):
    chosen = _chosen_patient(data)
    if chosen is not None:
        record_list(patient_ids=[chosen.pk], query=f"patient={chosen.pk}", what="booking for a patient")
    query = str(data.get("q", ""))
    context = {
        "form": form,
        "check": _check(data, patient=chosen) if check and data.get("starts_at") else {},
        "query": query,
        "matches": [p for p in _matches(query) if chosen is None or p.pk != chosen.pk],
        "chosen": chosen,
        "next": _back_url(request),
    }
    template = "journeys/_slot_booking.html" if request.htmx else "journeys/slot_booking.html"
    return render(request, template, context, status=status)


@role_required(*EVERYONE)
@require_http_methods(["GET", "POST"])
def slot_book(request):
    """GET: the booking form for a slot (``practitioner``, ``starts_at``, ``kind``; ``patient`` and ``q``
    optional). POST: book it through ``visit_schedule``, and back to the schedule with the news."""
    if request.method == "GET":
        # The length is left empty: the kind's usual length, the one the free slots were worked out for,
        # follows a change of kind; the check below the form shows the time it covers.
        initial = {name: request.GET[name] for name in BOOKING_FIELDS if request.GET.get(name)}
        return _render(request, SlotBookingForm(initial=initial), data={**request.GET.dict(), **initial})

    form = SlotBookingForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        patient = data["patient"]
        try:
            visit = services.visit_schedule(
                patient=patient,
                practitioner=data["practitioner"],
                kind=data["kind"],
                starts_at=data["starts_at"],
                duration_minutes=data["duration_minutes"],
                location=data["location"],
                actor=request.user,
                journey=patient_open_journey(patient),
            )
        except ValidationError as error:
            add_service_error(form, error, fields=FIELD_FOR_CODE)
        else:
            tell_booked(request, visit, patient, naming_patient=True)
            back = _back_url(request)
            if request.htmx:
                response = HttpResponse(status=204)
                response["HX-Redirect"] = back
                return response
            return HttpResponseRedirect(back)
    return _render(request, form, data=request.POST, status=422, check=False)


@role_required(*EVERYONE)
@require_POST
def slot_check(request):
    """The booking form's time, length and practitioner against the booking rules, as they change."""
    patient = _chosen_patient(request.POST)
    if patient is not None:  # the quiet-hours warning names them and their clock
        record_list(patient_ids=[patient.pk], query=f"patient={patient.pk}", what="booking check")
    return render(request, "journeys/_slot_check.html", {"check": _check(request.POST, patient=patient)})


@role_required(*EVERYONE)
@require_GET
def slot_patients(request):
    """The booking form's patient search: a few matches to choose from."""
    query = request.GET.get("q", "")
    return render(request, "journeys/_slot_patients.html", {"matches": _matches(query), "query": query})
