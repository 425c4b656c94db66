from urllib.parse import quote

from django.http import Http404
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from accounts.audit import record_list
from accounts.dates import hour_minute
from accounts.permissions import EVERYONE, role_required
from compliance.panels import clinic_settings_for
from journeys.forms.move import PipelineFilterForm
from journeys.selectors.advocates import advocate_rows
from journeys.selectors.pipeline import pipeline_board
from nudges import selectors as nudge_selectors
from patients.header_markup import patient_header_html
from patients.selectors import patient_get_for

from . import patient_page
from .figures import pipeline_flow_stored
from .pipeline_cards import board_html
from .selectors import today_for
from .summary_markup import summary_html
from .today_rows import today_rows


@role_required(*EVERYONE)
def patient_detail(request, pk):
    """The patient page: a summary header, then one tab of the record (``?tab=``, the first by default);
    the other tabs load on demand from ``patient_panel``, or through their plain links without htmx."""
    patient = patient_get_for(user=request.user, pk=pk)
    tab = patient_page.tab_named(request.GET.get(patient_page.TAB_PARAM)) or patient_page.DEFAULT_TAB
    summary = patient_page.patient_summary(patient, clinic=clinic_settings_for(request))
    panels = patient_page.tab_panels(request, patient, tab)
    csrf_token = get_token(request)  # one for the page's forms, as the template's own tag gives them
    return render(
        request,
        "dashboard/patient_detail.html",
        {
            "patient": patient,
            "summary": summary,
            "tabs": patient_page.PATIENT_TABS,
            "tab": tab,
            "csrf_token": csrf_token,
            "header_html": patient_header_html(patient, user=request.user, csrf_token=csrf_token),
            "summary_html": summary_html(request, patient, summary, csrf_token=csrf_token),
            "tabs_html": patient_page.tabs_html(patient, tab),
            "panels": panels,
            "tab_html": patient_page.tab_html(request, patient, tab, panels),
        },
    )


@role_required(*EVERYONE)
@require_GET
def patient_panel(request, pk, key):
    """One tab of the patient page, for htmx to swap in (the read is audited like the page's own)."""
    tab = patient_page.tab_named(key)
    if tab is None:
        raise Http404("No such section of the patient page.")
    patient = patient_get_for(user=request.user, pk=pk)
    panels = patient_page.tab_panels(request, patient, tab)
    return render(
        request,
        "dashboard/_patient_tab.html",
        {
            "patient": patient,
            "tab": tab,
            "panels": panels,
            "tab_html": patient_page.tab_html(request, patient, tab, panels, swap=True),
        },
    )


@role_required(*EVERYONE)
def today(request):
    """A practitioner's own day, or the whole practice's (``?scope=``); a fixed number of queries."""
    shown = today_for(request.user, scope=request.GET.get("scope"))
    record_list(patient_ids=shown.patient_ids, query=request.GET.urlencode(), what="today")
    return render(
        request,
        "dashboard/today.html",
        {"today": shown, "rows": today_rows(shown)},
    )


@role_required(*EVERYONE)
def pipeline(request):
    filters = PipelineFilterForm(request.GET or None)
    all_closed = request.GET.get("closed") == "all"
    query = request.GET.copy()
    query["closed"] = "recent" if all_closed else "all"
    # The whole clinic's conversion and median days come from the beat task's summary when it is fresh.
    flow = None if filters.is_narrowed() else pipeline_flow_stored()
    board = pipeline_board(**filters.filters(), all_closed=all_closed, flow=flow)
    columns_html, paused_html = board_html(
        board,
        here=quote(request.get_full_path(), safe="/"),
        now=timezone.now(),
        closed_toggle=query.urlencode(),
        all_closed=all_closed,
    )
    record_list(patient_ids=board.patient_ids, query=request.GET.urlencode(), what="pipeline")
    return render(
        request,
        "dashboard/pipeline.html",
        {
            "filters": filters,
            "board": board,
            "narrowed": filters.is_narrowed(),
            "columns_html": columns_html,
            "paused_html": paused_html,
            "flow_as_of": board.flow_as_of and hour_minute(board.flow_as_of),  # |time:"H:i"
        },
    )


@role_required(*EVERYONE)
@require_GET
def inbox(request):
    """The conversations of the user's own patients (care team) with something the patient wrote, unread first;
    ``?all=1``: every patient's."""
    everyone = request.GET.get("all") == "1"
    rows = nudge_selectors.inbox(user=request.user, everyone=everyone)
    record_list(patient_ids=[row.patient.pk for row in rows], query=request.GET.urlencode(), what="inbox")
    return render(request, "dashboard/inbox.html", {"rows": rows, "everyone": everyone})


@role_required(*EVERYONE)
@require_GET
def inbox_unread(request):
    """The navigation's unread count, loaded by htmx after the page (so no page pays its query): how many of
    the user's patients wrote something they have not read, "99+" past 99. A count, no patient named."""
    count = nudge_selectors.unread_conversation_count(request.user)
    return render(request, "dashboard/_inbox_unread.html", {"count": count, "cap": nudge_selectors.NAV_CAP})


@role_required(*EVERYONE)
@require_GET
def advocates(request):
    """Patients who speak for the clinic: testimonials, referrals, and how many referred reached commitment."""
    rows = advocate_rows()
    record_list(patient_ids=[row.patient.pk for row in rows], query=request.GET.urlencode(), what="advocates")
    return render(request, "dashboard/advocates.html", {"rows": rows})
