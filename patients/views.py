from django.contrib import messages
from django.core import signing
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from accounts.models import AccessEvent
from accounts.permissions import EVERYONE, role_required
from accounts.refusals import add_service_error, validation_message

from . import selectors, services
from .forms import (
    CareTeamMemberForm,
    ChangeLeadForm,
    ConsentForm,
    MarketingConsentForm,
    PatientForm,
    TestimonialForm,
)
from .models import Channel, ConsentRequest
from .tokens import read_consent_confirm_token


@role_required(*EVERYONE)
def patient_create(request):
    form = PatientForm(request.POST or None, creating=True)
    if request.method == "POST" and form.is_valid():
        try:
            patient = services.patient_create(
                actor=request.user,
                data=form.patient_data(),
                lead=form.cleaned_data["lead"],
                consent_email=form.cleaned_data["consent_email"],
                consent_sms=form.cleaned_data["consent_sms"],
            )
        except ValidationError as error:
            add_service_error(form, error)
        else:
            messages.success(request, f"{patient.display_name} is now a patient of the clinic.")
            return redirect(patient)
    return render(request, "patients/patient_form.html", {"form": form, "creating": True})


@role_required(*EVERYONE)
def patient_edit(request, pk):
    patient = selectors.patient_get_for(user=request.user, pk=pk)
    form = PatientForm(request.POST or None, instance=patient)
    if request.method == "POST" and form.is_valid():
        try:
            changed = services.patient_update(actor=request.user, patient=patient, data=form.patient_data())
        except ValidationError as error:
            add_service_error(form, error)
        else:
            messages.success(request, "Saved." if changed else "Nothing had changed.")
            return redirect(patient.section_url("contact"))
    return render(
        request, "patients/patient_form.html", {"form": form, "patient": patient, "creating": False}
    )


def _patient_for_change(request, pk):
    return selectors.patient_get_for(user=request.user, pk=pk, action=AccessEvent.Action.UPDATE)


@role_required(*EVERYONE)
@require_POST
def patient_change_lead(request, pk):
    patient = _patient_for_change(request, pk)
    form = ChangeLeadForm(request.POST)
    if form.is_valid():
        try:
            services.care_team_set_lead(
                patient=patient,
                user=form.cleaned_data["lead"],
                actor=request.user,
                keep_previous=form.cleaned_data["keep_previous"],
                note=form.cleaned_data["note"],
            )
        except ValidationError as error:
            messages.error(request, validation_message(error))
        else:
            messages.success(request, f"{form.cleaned_data['lead']} now leads {patient.display_name}'s care.")
    else:
        messages.error(request, validation_message(form))
    return redirect(patient.section_url("contact", "team"))


@role_required(*EVERYONE)
@require_POST
def care_team_add(request, pk):
    patient = _patient_for_change(request, pk)
    form = CareTeamMemberForm(request.POST)
    if form.is_valid():
        try:
            member = services.care_team_add(patient=patient, actor=request.user, **form.cleaned_data)
        except ValidationError as error:
            messages.error(request, validation_message(error))
        else:
            messages.success(request, f"{member.name} joined the care team.")
    else:
        messages.error(request, validation_message(form))
    return redirect(patient.section_url("contact", "team"))


@role_required(*EVERYONE)
@require_POST
def care_team_remove(request, pk, member_pk):
    patient = _patient_for_change(request, pk)
    member = selectors.care_team_member_get(patient=patient, pk=member_pk)
    try:
        services.care_team_end(member=member, actor=request.user)
    except ValidationError as error:
        messages.error(request, validation_message(error))
    else:
        messages.success(request, f"{member.name} is no longer on the care team.")
    return redirect(patient.section_url("contact", "team"))


@role_required(*EVERYONE)
@require_POST
def patient_consent(request, pk):
    patient = _patient_for_change(request, pk)
    form = ConsentForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a channel and whether consent is given or withdrawn.")
        return redirect(patient.section_url("contact"))
    channel, granted = form.cleaned_data["channel"], form.cleaned_data["granted"]
    try:
        services.consent_record(
            patient=patient,
            channel=channel,
            granted=granted,
            actor=request.user,
            via="recorded by staff",
            note=form.cleaned_data["note"],
        )
    except ValidationError as error:
        messages.error(request, validation_message(error))
    else:
        label = Channel(channel).label
        messages.success(request, f"{label} consent {'recorded' if granted else 'withdrawn'}.")
    return redirect(patient.section_url("contact"))


@role_required(*EVERYONE)
@require_POST
def patient_archive(request, pk):
    patient = _patient_for_change(request, pk)
    archive = request.POST.get("archived") == "yes"
    services.patient_set_archived(actor=request.user, patient=patient, archived=archive)
    messages.success(
        request,
        f"{patient.display_name} was archived: no messages will be sent."
        if archive
        else f"{patient.display_name} is active again.",
    )
    return redirect(patient)


@never_cache
@csrf_exempt  # the signed token is the proof, as on the unsubscribe page; no session is used
@require_http_methods(["GET", "POST"])
def consent_confirm(request, token):
    """Public: the patient confirms consent someone asked for (GET shows a button, so a mail scanner that
    opens the link records nothing; POST confirms). Whoever holds the link sees a first name at most."""
    try:
        consent_request = ConsentRequest.objects.select_related("patient").get(
            pk=read_consent_confirm_token(token)
        )
    except (signing.BadSignature, ConsentRequest.DoesNotExist):
        return render(request, "patients/consent_confirm_invalid.html", status=400)
    patient = consent_request.patient
    context = {"first_name": patient.preferred_name or patient.first_name}
    if request.method == "POST":
        context["outcome"] = services.consent_confirm(request_id=consent_request.pk)
    elif consent_request.confirmed_at is not None:
        context["outcome"] = services.ConsentConfirmation.ALREADY
    return render(request, "patients/consent_confirm.html", context)


# --- Advocacy: marketing consent, testimonials, the referral link ------------------------------------------


@role_required(*EVERYONE)
@require_POST
def marketing_consent(request, pk):
    patient = _patient_for_change(request, pk)
    form = MarketingConsentForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose whether consent is given or withdrawn.")
        return redirect(patient.section_url("journey", "advocacy"))
    granted = form.cleaned_data["granted"]
    services.marketing_consent_record(
        patient=patient,
        granted=granted,
        via=form.cleaned_data["via"] or "told the clinic",
        actor=request.user,
    )
    messages.success(
        request,
        f"{patient.display_name} {'agreed to' if granted else 'no longer wants'} referral and testimonial messages.",
    )
    return redirect(patient.section_url("journey", "advocacy"))


@role_required(*EVERYONE)
@require_POST
def testimonial_add(request, pk):
    patient = _patient_for_change(request, pk)
    form = TestimonialForm(request.POST)
    if form.is_valid():
        try:
            services.testimonial_record(
                patient=patient,
                words=form.cleaned_data["words"],
                places=form.cleaned_data["places"],
                show_name=form.cleaned_data["show_name"],
                actor=request.user,
            )
        except ValidationError as error:
            messages.error(request, validation_message(error))
        else:
            messages.success(request, "The testimonial is kept, with where it may be shown.")
    else:
        messages.error(request, f"The testimonial was not kept. {validation_message(form)}")
    return redirect(patient.section_url("journey", "advocacy"))


@role_required(*EVERYONE)
@require_POST
def testimonial_withdraw(request, pk, testimonial_pk):
    patient = _patient_for_change(request, pk)
    testimonial = selectors.testimonial_get(patient=patient, pk=testimonial_pk)
    if services.testimonial_withdraw(testimonial=testimonial, actor=request.user):
        messages.success(request, "Consent withdrawn: the testimonial is shown nowhere from now on.")
    return redirect(patient.section_url("journey", "advocacy"))


@role_required(*EVERYONE)
@require_POST
def referral_link(request, pk):
    patient = _patient_for_change(request, pk)
    services.advocate_link_for(patient=patient, actor=request.user)
    messages.success(request, f"{patient.display_name}'s personal referral link is ready to share.")
    return redirect(patient.section_url("journey", "advocacy"))
