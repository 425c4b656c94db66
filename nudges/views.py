"""Outbox pages for the clinic, and the public unsubscribe page. (Pages being built out.)"""

from django.contrib import messages
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from alliance_crm.accounts.models import AccessEvent
from alliance_crm.accounts.permissions import EVERYONE, role_required
from patients.models import Patient
from patients.selectors import patient_get_for

from . import selectors, services, tokens
from .forms import OneOffMessageForm
from .models import Nudge

PAGE_SIZE = 50


@role_required(*EVERYONE)
def outbox(request):
    page = Paginator(selectors.outbox(status=request.GET.get("status", "")), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(request, "nudges/outbox.html", {"page": page})


@role_required(*EVERYONE)
def review(request):
    return render(request, "nudges/review.html", {"nudges": selectors.review_list()[:200]})


@role_required(*EVERYONE)
@require_POST
def retry(request, pk):
    nudge = get_object_or_404(Nudge, pk=pk)
    try:
        services.nudge_retry(nudge=nudge, actor=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, "The message will be sent again.")
    return redirect("nudges:review")


@role_required(*EVERYONE)
@require_POST
def mark_reviewed(request, pk):
    nudge = get_object_or_404(Nudge, pk=pk)
    try:
        services.nudge_mark_reviewed(nudge=nudge, actor=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, "Marked as reviewed.")
    return redirect("nudges:review")


@role_required(*EVERYONE)
@require_POST
def send_one_off(request, patient_pk):
    patient = patient_get_for(
        user=request.user, pk=patient_pk, request=request, action=AccessEvent.Action.UPDATE
    )
    form = OneOffMessageForm(request.POST, patient=patient)
    if form.is_valid():
        try:
            services.nudge_send_one_off(
                patient=patient,
                actor=request.user,
                channel=form.cleaned_data["channel"],
                subject=form.cleaned_data["subject"],
                message=form.cleaned_data["message"],
                send_at=form.cleaned_data["send_at"],
            )
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, "Message scheduled. It appears under Messages below.")
    else:
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
    return redirect(patient)


@csrf_exempt  # mail clients' one-click unsubscribe POSTs without a CSRF token; the signed token is the proof
@require_http_methods(["GET", "POST"])
def unsubscribe(request, token):
    try:
        patient_id, _ = tokens.read_unsubscribe_token(token)
        patient = Patient.objects.get(pk=patient_id)
    except (signing.BadSignature, Patient.DoesNotExist):
        return render(request, "nudges/unsubscribe_invalid.html", status=400)
    if request.method == "POST":
        services.nudge_unsubscribe(patient=patient)
        return render(request, "nudges/unsubscribe_done.html", {"patient": patient})
    return render(request, "nudges/unsubscribe_confirm.html", {"patient": patient, "token": token})
