"""The schedule page: a day or a week, one practitioner or the whole clinic (a screenful of practitioners at
a time), with the free slots to book."""

from django.conf import settings
from django.shortcuts import render
from django.utils import timezone

from accounts.audit import record_list
from accounts.links import url_for
from accounts.permissions import EVERYONE, role_required
from journeys.forms.schedule import ScheduleFilterForm
from journeys.selectors.schedule import PRACTITIONERS_SHOWN, VISITS_SHOWN, schedule_for
from patients.selectors import patient_get_for

from . import schedule_rows

# A day in a query string as it is written there (``quote_plus`` keeps letters as they are), which no other
# value of the schedule's query can spell (a view, a kind, ids and a page number): replaced by each day's
# ISO date (digits and dashes, kept as they are too), one query string written for many links.
DAY_MARKER = "DAYMARKER"


@role_required(*EVERYONE)
def schedule(request):
    """Practitioners open on their own schedule, everyone else on the whole clinic's; a fixed number of
    queries whatever the number of visits or practitioners, and the patients it names on the audit trail."""
    filters = ScheduleFilterForm(request.GET, user=request.user)
    chosen = filters.shown_practitioner
    shown = schedule_for(
        days=filters.days,
        practitioners=filters.page_practitioners,
        whole_clinic=chosen is None,
        minutes=filters.minutes,
    )
    patient = patient_get_for(user=request.user, pk=filters.patient_id) if filters.patient_id else None
    record_list(patient_ids=shown.patient_ids, query=request.GET.urlencode(), what="schedule")
    here = url_for("dashboard:schedule")
    step = filters.step()
    today = timezone.localdate()
    booking = {"kind": filters.shown_kind, "next": f"{here}?{filters.query()}"}
    if patient is not None:
        booking["patient"] = str(patient.pk)
    booking_query = filters.query(**booking, view=None, day=None, practitioner=None, page=None)
    if filters.shown_view == "week":
        _link_days(shown, filters)
        to_day = filters.query(view="day", day=DAY_MARKER)  # each column's the same but its day's digits
        columns = [
            (to_day.replace(DAY_MARKER, day.isoformat()), day == today, schedule_rows.short_day(day))
            for day in shown.days
        ]
        rows = {
            "week_rows": schedule_rows.week_rows(shown),
            "week_columns": schedule_rows.week_columns(columns),
        }
    else:
        rows = {
            "day_sections": schedule_rows.day_sections(
                shown, book=url_for("journeys:slot_book"), booking_query=booking_query
            )
        }
    dated = filters.query(day=DAY_MARKER)  # the links to other days: this query but the day's digits
    page, pages = filters.shown_page, filters.page_count
    first = (page - 1) * PRACTITIONERS_SHOWN
    return render(
        request,
        "dashboard/schedule.html",
        {
            "filters": filters,
            "controls": filters.controls(),  # the filters' labels and controls, written by their widgets
            "schedule": shown,
            "chosen": chosen,
            "patient": patient,
            "view": filters.shown_view,
            "today": today,
            "is_today": today in filters.days,
            "previous": dated.replace(DAY_MARKER, (filters.shown_day - step).isoformat()),
            "next": dated.replace(DAY_MARKER, (filters.shown_day + step).isoformat()),
            "to_today": dated.replace(DAY_MARKER, today.isoformat()),
            # the dates as the template's date filter wrote them, once each
            "first_day": schedule_rows.long_day(shown.days[0]),
            "last_day": schedule_rows.long_day(shown.days[-1]),
            "week_of": schedule_rows.day_of_month(shown.days[0]),
            "visit_count": shown.visit_count,
            "day_view": filters.query(view="day"),
            "week_view": filters.query(view="week"),
            "without_patient": filters.query(patient=None),
            "clinic_time_zone": settings.TIME_ZONE.replace("_", " "),
            "visits_shown": VISITS_SHOWN,
            "pages": {
                "shown": chosen is None and pages > 1,
                # "9–16 of 40", written once for the title and the bar (digits only)
                "span": f"{first + 1}–{min(first + PRACTITIONERS_SHOWN, len(filters.practitioners))}"
                f" of {len(filters.practitioners)}",
                "previous": filters.query(page=str(page - 1) if page > 2 else None) if page > 1 else "",
                "next": filters.query(page=str(page + 1)) if page < pages else "",
            },
            **rows,
        },
    )


def _link_days(shown, filters) -> None:
    """A week: each practitioner's day links to its day view; a weekend nobody works or books is left out."""
    keep = [
        day
        for index, day in enumerate(shown.days)
        if day.weekday() < 5
        or any(row.days[index].works or row.days[index].visits or row.days[index].away for row in shown.rows)
    ]
    shown.days = keep
    today = timezone.localdate()
    base = filters.query(view="day", day=None, practitioner=None, page=None)  # the rest: digits, written once
    for row in shown.rows:
        row.days = [day for day in row.days if day.day in keep]
        for day in row.days:
            day.is_today = day.day == today
            day.link = f"{base}&day={day.day.isoformat()}&practitioner={row.practitioner.pk}"
