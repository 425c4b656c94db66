from django.shortcuts import render

from alliance_crm.accounts.permissions import EVERYONE, role_required


@role_required(*EVERYONE)
def today(request):
    return render(request, "dashboard/today.html")


@role_required(*EVERYONE)
def pipeline(request):
    return render(request, "dashboard/pipeline.html")


@role_required(*EVERYONE)
def insights(request):
    return render(request, "dashboard/insights.html")
