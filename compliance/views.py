"""The patient's check-in page (public, proven by its signed link), the clinic's phone entry of an answer, and
the falter alerts: the list every role sees and one alert with its course corrections. Everyone on the team
may see an alert; only practitioners and admins answer one."""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.core import signing
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from accounts.audit import record_list
from accounts.models import AccessEvent
from accounts.paging import COUNT_CAP, Cursor, pagination_html
from accounts.permissions import CLINICAL, EVERYONE, role_required
from accounts.refusals import validation_message
from journeys.models import CheckIn
from journeys.services.blueprints import blueprint_start_draft
from journeys.tokens import read_checkin_token
from patients.selectors import patient_get_for

from . import selectors, services
from .alert_evidence import alert_moments, answers_html, outreach_html
from .alert_rows import open_alert_rows, resolved_alert_rows
from .charts import weekly_adherence_svg
from .context_processors import OpenAlerts
from .correction_form import correction_form_html
from .forms import CheckInAnswerForm, CourseCorrectionForm
from .models import Alert, CheckInAnswer, ClinicSettings, CourseCorrection
from .services import REFUSAL_MESSAGES, Refusal

REFUSAL_PAGES = {
    Refusal.MISSED: "compliance/checkin_closed.html",
    Refusal.CLOSED: "compliance/checkin_closed.html",
    Refusal.RECEIVED: "compliance/checkin_received.html",
}


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
        return render(request, "nudges/link_invalid.html", status=400)
    checkin = CheckIn.objects.select_related("journey__patient").filter(pk=checkin_id).first()
    if checkin is None:
        return render(request, "compliance/checkin_unknown.html", status=404)
    patient = checkin.journey.patient
    # Whoever holds the link sees a first name at most, and their plan's item names.
    context = {"first_name": _first_name(patient), "zone": patient.time_zone, "checkin": checkin}
    amend_hours = ClinicSettings.load().amend_hours
    answer = selectors.checkin_answer_of(checkin)
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
        follow_up=checkin.kind == CheckIn.Kind.FOLLOW_UP,
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
    answer = selectors.checkin_answer_of(checkin)
    refusal = services.checkin_answer_refusal(
        checkin=checkin,
        answer=answer,
        via=CheckInAnswer.Via.PHONE,
        now=timezone.now(),
        amend_hours=amend_hours,
    )
    if refusal is not None:
        messages.info(request, REFUSAL_MESSAGES[refusal])
        return redirect(patient.section_url("plan", "adherence"))
    form = CheckInAnswerForm(
        request.POST if request.method == "POST" else None,
        items=services.checkin_answerable_items(checkin),
        answer=answer,
        follow_up=checkin.kind == CheckIn.Kind.FOLLOW_UP,
    )
    if request.method == "POST" and form.is_valid():
        try:
            recorded, form = _record(
                request, checkin=checkin, form=form, via=CheckInAnswer.Via.PHONE, entered_by=request.user
            )
        except ValidationError as error:
            messages.info(request, validation_message(error))
            return redirect(patient.section_url("plan", "adherence"))
        if recorded is not None:
            due, done = checkin.due_on, "changed" if answer is not None else "recorded"
            messages.success(
                request,
                f"{patient.display_name}'s check-in due {due.day} {due:%b} is {done}, taken by phone.",
            )
            return redirect(patient.section_url("plan", "adherence"))
    context = {"patient": patient, "checkin": checkin, "form": form, "answer": answer}
    if answer is not None:
        context["until"] = services.answer_changeable_until(answer, amend_hours=amend_hours)
    return render(request, "compliance/checkin_enter.html", context)


# --- Falter alerts ----------------------------------------------------------------------------------


def _alert_url(alert: Alert) -> str:
    return reverse("compliance:alert", args=[alert.pk])


EVIDENCE_ANSWERS = 5


def _evidence(request, alert: Alert) -> dict:
    """What the practitioner acts on: the weekly adherence of the alert's window up to today, the latest
    answers (their barriers; their own words for clinical roles only) and the outreach that went out."""
    clinic = ClinicSettings.load()
    patient = alert.patient
    today = timezone.now().astimezone(patient.tz).date()
    weeks = selectors.alert_evidence_weeks(alert, window_days=clinic.window_days, today=today)
    weekly = selectors.weekly_scores(patient_id=patient.pk, weeks=weeks)
    clinical = request.user.role in CLINICAL
    answers = selectors.recent_answers(  # the page shows no replies: none read
        patient_id=patient.pk, clinical=clinical, limit=EVIDENCE_ANSWERS, replies=False
    )
    outreach = selectors.alert_outreach(alert, window_days=clinic.window_days)
    return {
        "evidence_chart": weekly_adherence_svg(
            [(week, weekly[week]) for week in weeks],
            threshold=clinic.adherence_threshold,
            title="Adherence by week, from the alert's window to today",
        ),
        "evidence_answers": answers,
        "evidence_answers_html": answers_html(answers, clinical=clinical),
        "evidence_outreach": outreach,
        "evidence_outreach_html": outreach_html(outreach),
        "clinical": clinical,
    }


def _correction_form(alert: Alert, *, published, offered=None) -> CourseCorrectionForm:
    """The correction form; once a version was published from the alert, filled in with it, its reason and
    "plan simplified", so that one click records the correction and closes the alert. ``offered``: the
    versions published since the alert opened, read already (``selectors.AlertPlan.since``)."""
    initial = {}
    if published is not None:
        initial = {
            "change": CourseCorrection.Change.SIMPLIFIED,
            "note": published.revision_reason or f"Plan revised to version {published.version}.",
            "blueprint": published.pk,
            "resolve": True,
        }
    if offered is not None:  # a form to show, never bound: the versions it offers are read already
        return CourseCorrectionForm(versions=offered, initial=initial)
    return CourseCorrectionForm(blueprints=selectors.blueprints_since(alert), initial=initial)


def _render_alert(request, alert: Alert, *, form=None, status: int = 200):
    can_correct = request.user.role in CLINICAL
    journey = alert.journey
    corrections = selectors.alert_corrections(alert)
    draft = published = None
    revisable = journey is not None and journey.is_open
    if can_correct and (revisable or alert.is_open):
        plan = selectors.alert_plan(alert)  # the draft and the versions since, in one read
        draft = plan.draft if revisable else None
        if alert.is_open:
            published = plan.unlinked(corrections)
            form = form or _correction_form(alert, published=published, offered=plan.since)
    return render(
        request,
        "compliance/alert_detail.html",
        {
            "alert": alert,
            "patient": alert.patient,
            "journey": journey,
            "corrections": corrections,
            "other_open": selectors.alert_others_open(alert),
            "can_correct": can_correct,
            "can_revise": can_correct and alert.is_open and journey is not None and journey.is_open,
            "draft": draft,
            "published": published,
            "form": form,
            "form_html": correction_form_html(form) if form is not None else "",
            "clinic_time_zone": settings.TIME_ZONE,
            **alert_moments(alert, now=timezone.now()),
            **_evidence(request, alert),
        },
        status=status,
    )


ALERTS_PER_PAGE = 50


@role_required(*EVERYONE)
def alert_list(request):
    """Open alerts (one row a patient), the longest waiting first, a keyset page at a time read from the
    index of open alerts; the recently resolved below. The open alerts are counted once, for the page and the
    navigation's badge."""
    count = selectors.alerts_open_count(COUNT_CAP)
    page = selectors.alerts_open_page(Cursor.from_query(request.GET), per_page=ALERTS_PER_PAGE, count=count)
    alerts, resolved = page.object_list, selectors.alerts_recently_resolved_rows()
    record_list(
        patient_ids=[row[1] for row in alerts] + [row[1] for row in resolved],  # each row's patient
        query=request.GET.urlencode(),
        what="falter alerts",
    )
    return render(
        request,
        "compliance/alerts.html",
        {
            "alerts": alerts,
            "alert_rows": open_alert_rows(alerts),
            "page": page,
            # _pagination.html, kept once per look: no filters to keep, nothing of the request in it.
            "pagination": pagination_html(page, querystring="", noun="open alerts", kept=True),
            "resolved": resolved,
            "resolved_rows": resolved_alert_rows(resolved),
            "nav_open_alerts": OpenAlerts.counted(count[0]),
        },
    )


@role_required(*EVERYONE)
def alert_detail(request, pk):
    return _render_alert(request, selectors.alert_get_for(user=request.user, pk=pk))


@role_required(*CLINICAL)
@require_POST
def alert_correct(request, pk):
    alert = selectors.alert_get_for(user=request.user, pk=pk, audit=False)
    form = CourseCorrectionForm(request.POST, blueprints=selectors.blueprints_since(alert))
    if not alert.is_open:
        messages.error(request, "This alert was already answered.")
        return redirect(_alert_url(alert))
    if form.is_valid():
        data = form.cleaned_data
        try:
            services.course_correct(
                alert=alert,
                actor=request.user,
                change=data["change"],
                note=data["note"],
                blueprint=data["blueprint"],
                resolve=data["resolve"],
            )
        except ValidationError as error:
            if hasattr(error, "error_dict"):
                for field, errors in error.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                form.add_error(None, error)
        else:
            messages.success(
                request,
                "Course correction recorded; the alert is closed." if data["resolve"] else "Step recorded.",
            )
            return redirect(_alert_url(alert))
    return _render_alert(request, alert, form=form, status=422)


@role_required(*CLINICAL)
@require_POST
def alert_revise(request, pk):
    """Open draft version N+1 of the plan from the alert, and go to the builder to change it."""
    alert = selectors.alert_get_for(user=request.user, pk=pk, audit=False)
    journey = alert.journey
    if journey is None or not journey.is_open:
        messages.error(request, "This patient's journey has ended; its plan can be read but not revised.")
        return redirect(_alert_url(alert))
    try:
        draft = blueprint_start_draft(journey=journey, actor=request.user)
    except ValidationError as error:
        if getattr(error, "code", None) != "draft_exists":
            messages.error(request, validation_message(error))
            return redirect(_alert_url(alert))
        messages.info(request, "A draft of this plan is already open: carry on with it.")
    else:
        messages.success(
            request,
            f"Version {draft.version} is open as a draft. Change it and publish it with a reason: you come "
            "back here to confirm the course correction.",
        )
    # The builder knows nothing of alerts: it is given a page to return to once the revision is published.
    builder = reverse("journeys:blueprint", args=[journey.pk])
    return redirect(f"{builder}?{urlencode({'return_to': _alert_url(alert)})}#draft")
