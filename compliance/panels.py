"""The compliance panels of the patient's page, plain context functions that ``dashboard.views.patient_detail``
calls: Alerts (open alerts and the course corrections that answered them) and Adherence (the window's score
and trend, engagement, twelve weeks of charts and the latest answers).

Everyone on the care team sees the barrier categories a patient chose; only clinical roles read the
patient's own words and self-ratings, which are not even loaded for anyone else.
"""

from datetime import timedelta

from django.utils import timezone

from accounts.permissions import CLINICAL

from . import selectors
from .charts import item_heatmap_svg, weekly_adherence_svg
from .models import ClinicSettings

CHART_WEEKS = 12
RECENT_ANSWERS = 5
PANEL_HISTORY = 10


def alerts_panel_context(request, patient) -> dict:
    """Two queries, whatever the patient's history holds: the open alerts and the latest corrections."""
    return {
        "open_alerts": selectors.patient_open_alerts(patient),
        "corrections": selectors.patient_corrections(patient, limit=PANEL_HISTORY),
        "history_limit": PANEL_HISTORY,
        "can_correct": request.user.role in CLINICAL,
        "user": request.user,  # a correction's note is shown to clinical roles only
    }


def clinic_settings_for(request) -> ClinicSettings:
    """``ClinicSettings.load()``, read once per request: the patient page's header and its plan tab both ask.
    Kept on the request, so it ends with it (an admin's change shows on the next page)."""
    try:
        return request.clinic_settings_read
    except AttributeError:
        request.clinic_settings_read = ClinicSettings.load()
        return request.clinic_settings_read


def adherence_panel_context(request, patient) -> dict:
    """Eight queries at most, whatever the patient's history holds (seven without a published plan; one
    fewer when the page read the clinic's settings already)."""
    clinic = clinic_settings_for(request)
    today = timezone.now().astimezone(patient.tz).date()  # check-ins fall due in the patient's calendar
    adherence = selectors.patient_adherence_of(patient, today=today, window_days=clinic.window_days)
    this_monday = today - timedelta(days=today.weekday())
    weeks = [this_monday - timedelta(weeks=n) for n in range(CHART_WEEKS - 1, -1, -1)]
    weekly = selectors.weekly_scores(patient_id=patient.pk, weeks=weeks)
    heat_rows = selectors.item_rows_weekly_scores(
        rows=selectors.current_plan_item_rows(patient_id=patient.pk), weeks=weeks
    )
    clinical = request.user.role in CLINICAL
    answers = selectors.recent_answers(patient_id=patient.pk, clinical=clinical, limit=RECENT_ANSWERS)
    reported_weeks = sum(score is not None for score in weekly.values())
    return {
        "adherence": adherence,
        "threshold": clinic.adherence_threshold,
        "below_threshold": adherence.score is not None and adherence.score < clinic.adherence_threshold,
        "trend_words": selectors.describe_trend(adherence.trend, window_days=clinic.window_days),
        "closed_checkins": adherence.answered + adherence.missed,
        "chart_weeks": CHART_WEEKS,
        "weekly_chart": weekly_adherence_svg(
            [(week, weekly[week]) for week in weeks],
            threshold=clinic.adherence_threshold,
            title=f"Adherence by week, last {CHART_WEEKS} weeks",
        )
        if reported_weeks
        else "",
        "heatmap": item_heatmap_svg(
            heat_rows, threshold=clinic.adherence_threshold, title="Each plan item by week"
        )
        if reported_weeks and heat_rows
        else "",
        "answers": answers,
        "clinical": clinical,
        "has_history": bool(reported_weeks or answers or adherence.answered or adherence.missed),
    }


def then_and_now_panel_context(request, patient) -> dict:
    """Then and now: the program's first and last answered weeks side by side (the 0–10 self-ratings for
    clinical roles only, like the answers themselves), and the follow-ups after graduation. Three queries."""
    return {
        "then_and_now": selectors.then_and_now(patient_id=patient.pk),
        "clinical": request.user.role in CLINICAL,
    }
