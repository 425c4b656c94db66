from django.shortcuts import render

from alliance_crm.accounts.permissions import EVERYONE, role_required
from journeys.forms.move import PipelineFilterForm
from journeys.selectors.pipeline import pipeline_board
from patients.selectors import patient_list


@role_required(*EVERYONE)
def today(request):
    without_lead = patient_list(lead_id=0).order_by("created_at")
    return render(
        request,
        "dashboard/today.html",
        {"without_lead": without_lead[:10], "without_lead_count": without_lead.count()},
    )


@role_required(*EVERYONE)
def pipeline(request):
    filters = PipelineFilterForm(request.GET or None)
    return render(
        request,
        "dashboard/pipeline.html",
        {
            "filters": filters,
            "board": pipeline_board(**filters.filters()),
            "narrowed": filters.is_narrowed(),
        },
    )


@role_required(*EVERYONE)
def insights(request):
    return render(request, "dashboard/insights.html")
