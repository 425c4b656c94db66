"""The falter alerts: the list every role sees and one alert with its course corrections. Everyone on the team
may see an alert; only practitioners and admins answer one.

``urlpatterns`` here join the ``compliance`` namespace (included from ``compliance/urls.py``).
"""

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Layout, Submit
from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import OuterRef, Subquery
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import dateformat, timezone
from django.views.decorators.http import require_POST

from accounts.audit import record_access
from accounts.models import AccessEvent
from accounts.permissions import CLINICAL, EVERYONE, role_required
from alliance_crm.errors import validation_message
from journeys.models import Blueprint
from journeys.services.blueprints import blueprint_start_draft
from patients.models import CareTeamMember

from .corrections import blueprints_since, course_correct
from .models import Alert, CourseCorrection

RECENTLY_RESOLVED = 10


class CourseCorrectionForm(forms.Form):
    change = forms.ChoiceField(
        choices=CourseCorrection.Change.choices, label="What changed", widget=forms.RadioSelect
    )
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        label="In a sentence or two",
        error_messages={
            "required": "Say what changed and why, in a sentence or two; it stays on the record."
        },
        help_text="What you changed and why. The clinic's record, not a message to the patient.",
    )
    blueprint = forms.ModelChoiceField(
        queryset=Blueprint.objects.none(),
        required=False,
        label="The revised plan",
        empty_label="— the plan was not revised —",
    )
    resolve = forms.BooleanField(
        required=False,
        initial=True,
        label="This answers the alert: close it",
        help_text="Untick to record a step (a call booked) and keep the alert open.",
    )

    def __init__(self, *args, blueprints=None, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["blueprint"]
        field.queryset = blueprints if blueprints is not None else Blueprint.objects.none()
        field.label_from_instance = lambda b: (
            f"Version {b.version}, published {dateformat.format(timezone.localtime(b.published_at), 'j M Y')}"
        )
        field.help_text = "Versions published since the alert opened."
        if not self.is_bound:
            self.initial.setdefault("blueprint", field.queryset.first())
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.disable_csrf = True  # the page's <form> carries the token
        self.helper.layout = Layout(
            "change", "note", "blueprint", "resolve", Submit("save", "Record the correction")
        )

    def clean_note(self):
        note = self.cleaned_data["note"].strip()
        if not note:
            raise forms.ValidationError(
                "Say what changed and why, in a sentence or two; it stays on the record."
            )
        return note


# --- Reads ----------------------------------------------------------------------------------------


def _with_lead(alerts):
    lead = CareTeamMember.objects.current().filter(
        patient=OuterRef("patient_id"), role=CareTeamMember.Role.LEAD
    )
    return alerts.annotate(lead_name=Subquery(lead.values("user__display_name")[:1]))


def alerts_open():
    """Open alerts, oldest first (the longest waiting at the top), with patient and lead in one query."""
    return _with_lead(
        Alert.objects.filter(resolved_at__isnull=True).select_related("patient", "journey", "outreach_nudge")
    ).order_by("opened_at", "pk")


def alerts_recently_resolved(limit: int = RECENTLY_RESOLVED):
    return (
        Alert.objects.filter(resolved_at__isnull=False)
        .select_related("patient", "resolved_by")
        .order_by("-resolved_at", "-pk")[:limit]
    )


def alert_get_for(*, user, pk: int, request=None, audit: bool = True) -> Alert:
    """One alert (404 if absent) with what its page shows; the read lands in the audit trail."""
    alert = get_object_or_404(
        _with_lead(Alert.objects.select_related("patient", "journey", "resolved_by", "outreach_nudge")), pk=pk
    )
    if audit:
        record_access(
            action=AccessEvent.Action.VIEW,
            actor=user,
            patient_id=alert.patient_id,
            obj=alert,
            request=request,
            detail="falter alert",
        )
    return alert


def _corrections(alert_filter):
    return CourseCorrection.objects.filter(**alert_filter).select_related(
        "practitioner", "blueprint", "alert"
    )


# --- Pages ----------------------------------------------------------------------------------------


def _alert_url(alert: Alert) -> str:
    return reverse("compliance:alert", args=[alert.pk])


def _render_alert(request, alert: Alert, *, form=None, status: int = 200):
    can_correct = request.user.role in CLINICAL
    journey = alert.journey
    draft = None
    if can_correct and journey is not None and journey.is_open:
        draft = journey.blueprints.filter(status=Blueprint.Status.DRAFT).only("pk", "version").first()
    if form is None and can_correct and alert.is_open:
        form = CourseCorrectionForm(blueprints=blueprints_since(alert))
    others = (
        Alert.objects.filter(patient_id=alert.patient_id, resolved_at__isnull=True).exclude(pk=alert.pk)
        if alert.is_open
        else Alert.objects.none()
    )
    return render(
        request,
        "compliance/alert_detail.html",
        {
            "alert": alert,
            "patient": alert.patient,
            "journey": journey,
            "corrections": list(_corrections({"alert": alert})),
            "other_open": list(others),
            "can_correct": can_correct,
            "can_revise": can_correct and alert.is_open and journey is not None and journey.is_open,
            "draft": draft,
            "form": form,
            "clinic_time_zone": settings.TIME_ZONE,
        },
        status=status,
    )


@role_required(*EVERYONE)
def alert_list(request):
    return render(
        request,
        "compliance/alerts.html",
        {"alerts": list(alerts_open()), "resolved": list(alerts_recently_resolved())},
    )


@role_required(*EVERYONE)
def alert_detail(request, pk):
    return _render_alert(request, alert_get_for(user=request.user, pk=pk, request=request))


@role_required(*CLINICAL)
@require_POST
def alert_correct(request, pk):
    alert = alert_get_for(user=request.user, pk=pk, audit=False)
    form = CourseCorrectionForm(request.POST, blueprints=blueprints_since(alert))
    if not alert.is_open:
        messages.error(request, "This alert was already answered.")
        return redirect(_alert_url(alert))
    if form.is_valid():
        data = form.cleaned_data
        try:
            course_correct(
                alert=alert,
                actor=request.user,
                change=data["change"],
                note=data["note"],
                blueprint=data["blueprint"],
                resolve=data["resolve"],
                request=request,
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
    alert = alert_get_for(user=request.user, pk=pk, audit=False)
    journey = alert.journey
    if journey is None or not journey.is_open:
        messages.error(request, "This patient's journey has ended; its plan can be read but not revised.")
        return redirect(_alert_url(alert))
    try:
        draft = blueprint_start_draft(journey=journey, actor=request.user, request=request)
    except ValidationError as error:
        if getattr(error, "code", None) != "draft_exists":
            messages.error(request, validation_message(error))
            return redirect(_alert_url(alert))
        messages.info(request, "A draft of this plan is already open: carry on with it.")
    else:
        messages.success(
            request,
            f"Version {draft.version} is open as a draft. Change it, publish it with a reason, then record "
            "the course correction on the alert.",
        )
    return redirect(reverse("journeys:blueprint", args=[journey.pk]) + "#draft")


urlpatterns = [
    path("alerts/", alert_list, name="alerts"),
    path("alerts/<int:pk>/", alert_detail, name="alert"),
    path("alerts/<int:pk>/correct/", alert_correct, name="alert_correct"),
    path("alerts/<int:pk>/revise/", alert_revise, name="alert_revise"),
]
