from datetime import timedelta

from django.shortcuts import render
from django.utils import timezone

from accounts.permissions import EVERYONE, role_required
from compliance import reports
from journeys.forms.move import PipelineFilterForm
from journeys.selectors.pipeline import pipeline_board

from .selectors import today_for


@role_required(*EVERYONE)
def today(request):
    return render(request, "dashboard/today.html", {"today": today_for(request.user)})


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
    """Clinic-wide figures over the clinic's adherence window; a fixed number of queries."""
    clinic = reports.clinic_settings()
    now = timezone.now()
    since = now - timedelta(days=clinic.window_days)
    adherence = reports.clinic_adherence(today=timezone.localdate(now), window_days=clinic.window_days)
    return render(
        request,
        "dashboard/insights.html",
        {
            "window_days": clinic.window_days,
            "threshold": clinic.adherence_threshold,
            "responses": reports.checkin_response_rates(since=since, until=now),
            "adherence": adherence,
            "trend_words": reports.describe_trend(adherence.trend, window_days=clinic.window_days),
            "barriers": reports.common_barriers(since=since, until=now),
            "open_alerts": reports.open_alert_count(),
        },
    )
