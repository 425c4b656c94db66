"""The intake questionnaire's pages: the patient's own, proven by their signed ``/q/<token>/`` link (one
section per screen, saved as they go, signed at the end), and the clinic's (the answers for practitioners
and admins, the signed agreements' copies, the medications carried into the plan)."""

from __future__ import annotations

from django.contrib import messages
from django.core import signing
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.permissions import CLINICAL, EVERYONE, role_required
from accounts.refusals import validation_message
from patients.selectors import patient_get_for

from . import intake_selectors as selectors
from . import intake_services as services
from .intake_forms import SectionForm, SignForm
from .models import QuestionnaireResponse
from .tokens import read_intake_token

REFUSAL_PAGES = {
    services.Refusal.SUBMITTED: "journeys/questionnaire_submitted.html",
    services.Refusal.CLOSED: "journeys/questionnaire_closed.html",
    services.Refusal.WITHDRAWN: "journeys/questionnaire_closed.html",
}


def _first_name(patient) -> str:
    return patient.preferred_name or patient.first_name


def _open(request, token):
    """(response, None), or (None, the page that says why the link cannot be used)."""
    try:
        pk = read_intake_token(token)
    except signing.BadSignature:
        return None, render(request, "nudges/link_invalid.html", status=400)
    response = QuestionnaireResponse.objects.select_related("patient", "questionnaire").filter(pk=pk).first()
    if response is None:
        return None, render(request, "nudges/link_invalid.html", status=404)
    return response, None


def _refused(request, response, refusal: str):
    return render(
        request,
        REFUSAL_PAGES[refusal],
        {"first_name": _first_name(response.patient), "response": response, "refusal": refusal},
    )


def _base(response, sections, token) -> dict:
    return {
        "token": token,
        "response": response,
        "questionnaire": response.questionnaire,
        "first_name": _first_name(response.patient),
        "sections": sections,
        "steps": len(sections) + 1,
        "zone": response.patient.time_zone,
    }


@never_cache
@require_GET
def questionnaire(request, token):
    """Public: the welcome, the sections with those already saved, and where to carry on."""
    response, page = _open(request, token)
    if page is not None:
        return page
    if refusal := services.intake_refusal(response):
        return _refused(request, response, refusal)
    sections = selectors.sections_of(response.questionnaire_id)
    done = set(response.sections_done)
    following = next((n for n, s in enumerate(sections, 1) if s.link_id not in done), None)
    return render(
        request,
        "journeys/questionnaire_start.html",
        {**_base(response, sections, token), "done": done, "following": following},
    )


@never_cache
@require_http_methods(["GET", "POST"])
def questionnaire_section(request, token, number):
    """Public: one section of the questionnaire; saving it moves on (or back, or stops for now)."""
    response, page = _open(request, token)
    if page is not None:
        return page
    if refusal := services.intake_refusal(response):
        return _refused(request, response, refusal)
    sections = selectors.sections_of(response.questionnaire_id)
    if not 1 <= number <= len(sections):
        return redirect("journeys:questionnaire", token=token)
    section = sections[number - 1]
    questions = list(section.questions.all())
    form = SectionForm(
        request.POST if request.method == "POST" else None,
        questions=questions,
        answers=selectors.answers_of(response),
    )
    context = {**_base(response, sections, token), "section": section, "number": number}
    if request.method == "POST" and form.is_valid():
        try:
            services.intake_section_save(response=response, section=section, values=form.values())
        except ValidationError as error:
            return _refused(request, response, error.code or services.Refusal.CLOSED)
        go = request.POST.get("go", "next")
        if go == "stop":
            return render(request, "journeys/questionnaire_saved.html", context)
        if go == "more":
            return redirect(reverse("journeys:questionnaire_section", args=[token, number]) + "#list")
        if go == "back" and number > 1:
            return redirect("journeys:questionnaire_section", token=token, number=number - 1)
        if number < len(sections):
            return redirect("journeys:questionnaire_section", token=token, number=number + 1)
        return redirect("journeys:questionnaire_sign", token=token)
    return render(
        request, "journeys/questionnaire_section.html", {**context, "form": form, "items": form.items()}
    )


@never_cache
@require_http_methods(["GET", "POST"])
def questionnaire_sign(request, token):
    """Public: the clinic's agreements, signed by typing a name and ticking each; then it is sent."""
    response, page = _open(request, token)
    if page is not None:
        return page
    if refusal := services.intake_refusal(response):
        return _refused(request, response, refusal)
    sections = selectors.sections_of(response.questionnaire_id)
    agreements = services.agreements_to_sign()
    form = SignForm(request.POST if request.method == "POST" else None, agreements=agreements)
    if request.method == "POST" and form.is_valid():
        try:
            services.intake_submit(
                response=response, signed_name=form.cleaned_data["signed_name"], agreed=form.agreed()
            )
        except ValidationError as error:
            if error.code in REFUSAL_PAGES:
                return _refused(request, response, error.code)
            if error.code == "agreement_changed":  # show the new wording, unticked
                form = SignForm(None, agreements=services.agreements_to_sign())
                form.initial["signed_name"] = request.POST.get("signed_name", "")
            form.add_error(None, validation_message(error))
        else:
            return render(
                request, "journeys/questionnaire_done.html", {"first_name": _first_name(response.patient)}
            )
    missing = [s for s in sections if s.link_id not in set(response.sections_done)]
    return render(
        request,
        "journeys/questionnaire_sign.html",
        {**_base(response, sections, token), "form": form, "missing": missing, "number": len(sections) + 1},
    )


# --- The clinic's side ------------------------------------------------------------------------------


@role_required(*EVERYONE)
@require_GET
def intake_detail(request, patient_pk):
    """The patient's submitted intake, read-only: practitioners and admins (audited); staff get 403."""
    patient = patient_get_for(user=request.user, pk=patient_pk)
    summary = selectors.intake_summary_for(user=request.user, patient=patient)
    latest = selectors.intake_latest(patient)
    return render(
        request,
        "journeys/intake_detail.html",
        {"patient": patient, "summary": summary, "latest": latest},
    )


@role_required(*EVERYONE)
@require_GET
def intake_signature(request, pk):
    """The clinic's copy of one signed agreement, as a text file: the exact wording signed, who, when, where."""
    signature = selectors.signature_get_for(user=request.user, pk=pk)
    patient = signature.response.patient
    when = timezone.localtime(signature.signed_at)
    text = (
        f"{signature.title} (version {signature.agreement_version})\n"
        f"{'=' * 60}\n\n{signature.text}\n\n{'-' * 60}\n"
        f"Signed by typing the name: {signature.signed_name}\n"
        f"Patient record: {patient.first_name} {patient.last_name} (#{patient.pk})\n"
        f"Signed at: {when:%Y-%m-%d %H:%M:%S %Z} ({signature.signed_at.isoformat()})\n"
        f"From address: {signature.ip_address or 'unknown'}\n"
        f"Browser: {signature.user_agent or 'unknown'}\n"
        f"Text fingerprint (SHA-256): {signature.text_sha256}\n"
    )
    reply = HttpResponse(text, content_type="text/plain; charset=utf-8")
    name = f"agreement-{signature.agreement.key}-v{signature.agreement_version}-patient-{patient.pk}.txt"
    reply["Content-Disposition"] = f'attachment; filename="{name}"'
    return reply


@role_required(*CLINICAL)
@require_POST
def intake_to_blueprint(request, patient_pk):
    """Carry the medications and supplements of the submitted intake into the first blueprint's draft."""
    patient = patient_get_for(user=request.user, pk=patient_pk, action="update")
    summary = selectors.intake_summary_for(user=request.user, patient=patient)
    if summary is None:
        messages.error(request, "There is no submitted intake questionnaire to carry from.")
        return redirect("journeys:intake", patient_pk=patient.pk)
    try:
        added = services.intake_carry_medications(response=summary.response, actor=request.user)
    except ValidationError as error:
        messages.error(request, validation_message(error))
        return redirect("journeys:intake", patient_pk=patient.pk)
    journey = summary.response.journey or patient.journeys.open().first()
    messages.success(
        request,
        f"{added} medication(s) and supplement(s) added to the draft plan."
        if added
        else "Every medication and supplement from the intake is already on the draft plan.",
    )
    return redirect("journeys:blueprint", pk=journey.pk)
