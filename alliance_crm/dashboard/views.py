from django.shortcuts import render

from alliance_crm.accounts.permissions import EVERYONE, role_required
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
    return render(request, "dashboard/pipeline.html")


@role_required(*EVERYONE)
def insights(request):
    return render(request, "dashboard/insights.html")
