"""The patient list (``patients:list``) and its CSV download: the patients app's list with each patient's
journey stage, so it is composed here, above journeys (``dashboard/urls_patients.py``)."""

from __future__ import annotations

from urllib.parse import quote_plus

from django.contrib import messages
from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone

from accounts.audit import record_export, record_list
from accounts.paging import Cursor, page_rows, pagination_written
from accounts.permissions import EVERYONE, role_required
from accounts.refusals import validation_message
from accounts.reports import csv_lines
from journeys.selectors.patients import SORT_BOUND, PatientRow, patient_export, patient_listing, patient_rows

from .forms import PatientListForm
from .patient_rows import header_cells_html, patient_rows_html

# The list's sortable columns: (key, header). A header's link sorts by its key, and again the other way.
SORTABLE = (("name", "Patient"), ("stage", "Stage"), ("lead", "Lead practitioner"), ("added", "Added"))
CSV_HEADER = (
    "patient id", "name", "legal first name", "legal last name", "preferred name", "pronouns", "email", "phone",
    "stage", "lead practitioner", "email consent", "SMS consent", "unsubscribed", "time zone", "source", "added",
    "archived",
)  # fmt: skip


CURSOR_KEYS = frozenset(("page", "after", "before"))


def _pair(key: str, value: str) -> str:
    """``key=value`` as ``QueryDict.urlencode`` writes it."""
    return f"{quote_plus(key)}={quote_plus(value)}"


def _pairs_without_cursor(request) -> list[tuple[str, str]]:
    """The query string's (key, encoded pair), in its order, less the cursor's keys: its ``QueryDict``'s copy
    less them, as ``urlencode`` writes it, each pair encoded once for the list's half-dozen links."""
    return [
        (key, _pair(key, value))
        for key, values in request.GET.lists()
        if key not in CURSOR_KEYS
        for value in values
    ]


def _headers(request, sort: str, pairs: list[tuple[str, str]] | None = None) -> list[dict]:
    """Each column header's link and its aria-sort: the current order's column says which way it runs. A
    link's query string is the list's with ``sort`` set (``QueryDict``'s ``query["sort"] = …``: the first
    sort's place taken, any other dropped; at the end when there was none)."""
    pairs = _pairs_without_cursor(request) if pairs is None else pairs
    keys = [key for key, _ in pairs]
    place = keys.index("sort") if "sort" in keys else len(pairs)
    before = [pair for key, pair in pairs[:place]]
    after = [pair for key, pair in pairs[place:] if key != "sort"]
    descending = sort.startswith("-")
    headers = []
    for key, label in SORTABLE:
        current = sort.lstrip("-") == key
        query = "&".join([*before, _pair("sort", f"-{key}" if current and not descending else key), *after])
        headers.append(
            {
                "key": key,
                "label": label,
                "url": f"?{query}",
                "aria_sort": ("descending" if descending else "ascending") if current else "",
                "next": "descending" if current and not descending else "ascending",
            }
        )
    return headers


@role_required(*EVERYONE)
def patient_list(request):
    filters = PatientListForm(request.GET or None)
    if filters.is_bound and not filters.is_valid():
        messages.warning(request, validation_message(filters))
    listing = patient_listing(**filters.filters())
    if listing.sort_refused:
        messages.info(
            request,
            f"Sorting by {listing.sort_refused.lstrip('-')} works on up to {SORT_BOUND:,} patients at a time, and "
            "this list has more: it stays in name order. Narrow it with a stage, a lead or a search first.",
        )
    page = listing.page(Cursor.from_query(request.GET), per_page=filters.page_size())
    page_rows(page, patient_rows)
    record_list(
        patient_ids=[row.pk for row in page.object_list], query=request.GET.urlencode(), what="patient list"
    )
    pairs = _pairs_without_cursor(request)
    querystring = "&".join([pair for _, pair in pairs])
    return render(
        request,
        "patients/patient_list.html",
        {
            "filters": filters,
            "filter_fields": filters.fields_html(),
            "page": page,
            "querystring": querystring,
            "pagination": pagination_written(page, querystring=querystring, noun="patients"),
            "narrowed": filters.is_narrowed(),
            "headers": header_cells_html(_headers(request, listing.sort, pairs)),
            "rows": patient_rows_html(page.object_list),
            "sort": listing.sort,
        },
    )


def _csv_row(row: PatientRow) -> list:
    patient = row.patient
    consent = {
        channel: bool(getattr(patient, f"{channel}_consent_granted"))
        and getattr(patient, f"{channel}_consent_address") == address
        for channel, address in (("email", patient.email), ("sms", patient.phone))
    }
    return [
        patient.pk,
        patient.display_name,
        patient.first_name,
        patient.last_name,
        patient.preferred_name,
        patient.pronouns,
        patient.email,
        patient.phone,  # E.164 as stored: exact, what an import reads back, and cheap for a long list
        row.stage_label,
        patient.lead_name or "",
        "yes" if consent["email"] and not patient.unsubscribed_at else "no",
        "yes" if consent["sms"] and not patient.unsubscribed_at else "no",
        timezone.localtime(patient.unsubscribed_at).date().isoformat() if patient.unsubscribed_at else "",
        patient.time_zone,
        patient.get_source_display(),
        timezone.localtime(patient.created_at).date().isoformat(),
        "yes" if patient.archived else "no",
    ]


@role_required(*EVERYONE)
def patient_list_csv(request):
    """The list as it is filtered and sorted, every page of it, as CSV: streamed as it is read, each patient
    on the audit trail as exported before the first line leaves. Demographics, stage, lead and consent only:
    no clinical text, for any role."""
    filters = PatientListForm(request.GET or None)
    ids, rows = patient_export(patient_listing(**filters.filters()))
    record_export(patient_ids=ids, query=request.GET.urlencode(), what="patient list CSV")
    lines = csv_lines(_with_header(rows))
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    stamp = timezone.localtime().strftime("%Y-%m-%d")
    response["Content-Disposition"] = f'attachment; filename="patients-{stamp}.csv"'
    response["Cache-Control"] = "no-store"
    return response


def _with_header(rows):
    yield CSV_HEADER
    for row in rows:
        yield _csv_row(row)
