from collections.abc import Callable
from dataclasses import dataclass

from django.shortcuts import render

from accounts.audit import record_list
from accounts.permissions import EVERYONE, role_required
from compliance import panels as compliance_panels
from journeys.forms.move import PipelineFilterForm
from journeys.panels import blueprints as blueprint_panels
from journeys.panels import timeline as timeline_panels
from journeys.panels import visits as visit_panels
from journeys.selectors.pipeline import pipeline_board
from nudges import panels as nudge_panels
from patients import panels as patient_panels
from patients.selectors import patient_get_for

from .selectors import today_for


@dataclass(frozen=True)
class Panel:
    """One section of the patient page: ``context(request, patient)`` gives ``template_name`` its ``panel``,
    in a fixed number of queries whatever the patient's history holds."""

    key: str
    title: str
    template_name: str
    context: Callable[..., dict]


# The patient's own record, on the left.
PATIENT_RECORD = (
    Panel(
        "contact", "Contact and consent", "patients/_contact_panel.html", patient_panels.contact_panel_context
    ),
    Panel("team", "Care team", "patients/_care_team_panel.html", patient_panels.care_team_panel_context),
)
# What the clinic does with the patient, on the right, top to bottom.
PATIENT_PANELS = (
    Panel("journey", "Journey", "journeys/_journey_panel.html", timeline_panels.journey_panel_context),
    Panel(
        "blueprint", "Care plan", "journeys/_blueprint_panel.html", blueprint_panels.blueprint_panel_context
    ),
    Panel("visits", "Visits", "journeys/_visits_panel.html", visit_panels.visits_panel_context),
    Panel("messages", "Messages", "nudges/_patient_panel.html", nudge_panels.messages_panel_context),
    Panel(
        "alerts",
        "Alerts and course corrections",
        "compliance/_alerts_panel.html",
        compliance_panels.alerts_panel_context,
    ),
    Panel(
        "adherence",
        "Adherence",
        "compliance/_adherence_panel.html",
        compliance_panels.adherence_panel_context,
    ),
    Panel("timeline", "Timeline", "journeys/_timeline.html", timeline_panels.timeline_panel_context),
)


@role_required(*EVERYONE)
def patient_detail(request, pk):
    """The patient page: the patient's record and every app's panel about them, each called in turn."""
    patient = patient_get_for(user=request.user, pk=pk)
    return render(
        request,
        "dashboard/patient_detail.html",
        {
            "patient": patient,
            "record": [(panel, panel.context(request, patient)) for panel in PATIENT_RECORD],
            "panels": [(panel, panel.context(request, patient)) for panel in PATIENT_PANELS],
        },
    )


@role_required(*EVERYONE)
def today(request):
    """A practitioner's own day, or the whole practice's (``?scope=``); a fixed number of queries."""
    shown = today_for(request.user, scope=request.GET.get("scope"))
    record_list(patient_ids=shown.patient_ids, query=request.GET.urlencode(), what="today")
    return render(request, "dashboard/today.html", {"today": shown})


@role_required(*EVERYONE)
def pipeline(request):
    filters = PipelineFilterForm(request.GET or None)
    all_closed = request.GET.get("closed") == "all"
    query = request.GET.copy()
    query["closed"] = "recent" if all_closed else "all"
    board = pipeline_board(**filters.filters(), all_closed=all_closed)
    record_list(patient_ids=board.patient_ids, query=request.GET.urlencode(), what="pipeline")
    return render(
        request,
        "dashboard/pipeline.html",
        {
            "filters": filters,
            "board": board,
            "narrowed": filters.is_narrowed(),
            "closed_toggle": query.urlencode(),
            "all_closed": all_closed,
        },
    )
