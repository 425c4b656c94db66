"""The Journey and Timeline panels on the patient's page; each context runs a fixed number of queries,
whatever the patient's history holds.
"""

from ..selectors.timeline import MAX_PAGES, PAGE_SIZE, patient_journey, patient_timeline, startable_programs

# ``?timeline=N`` on the patient's page shows the N newest pages: the "show older" link without htmx.
TIMELINE_PAGES_PARAM = "timeline"


def journey_panel_context(request, patient) -> dict:
    """One query with an open journey; two without (the programs a new one may start on)."""
    summary = patient_journey(patient)
    can_start = summary is None or not summary.journey.is_open
    return {
        "summary": summary,
        "can_start": can_start,
        "programs": list(startable_programs()) if can_start else [],
    }


def _pages_asked(request) -> int:
    try:
        pages = int(request.GET.get(TIMELINE_PAGES_PARAM, 1))
    except (TypeError, ValueError):
        pages = 1
    return min(max(pages, 1), MAX_PAGES)


def timeline_panel_context(request, patient) -> dict:
    """Six queries, however long the history (see ``patient_timeline``)."""
    limit = PAGE_SIZE * _pages_asked(request)
    return {"page": patient_timeline(patient=patient, user=request.user, limit=limit)}
