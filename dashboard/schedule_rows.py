"""The schedule's repeated rows — each visit, run of free slots and time off — written once in Python.

A clinic's week lists hundreds of visits and its day offers hundreds of free slots: through the template
engine each row cost tens of microseconds (a lookup, an escape and a node per value), here a few. The page's
structure stays in the templates (``dashboard/_schedule_day.html``, ``_schedule_week.html``); these are only
the rows inside it. Every value that comes from a person (names, places, reasons) is escaped here; the rest
(times, ids, the clinic's own labels) is made of digits and fixed words, and escaped all the same where it
costs nothing to.
"""

from html import escape

from django.utils.safestring import mark_safe

from journeys.selectors.schedule import Entry, Schedule, ShownVisit


def _their_time(visit: ShownVisit, *, zone: bool) -> str:
    clock = visit.patient_clock
    if not clock:
        return ""
    if zone:
        return (
            f'<span class="small text-body-secondary text-nowrap" title="{escape(clock["when"])}">'
            f"{clock['time']} their time ({escape(clock['zone'])})</span>"
        )
    return (
        f'<span class="text-body-secondary" title="{escape(clock["when"])}">'
        f"· {clock['time']} their time</span>"
    )


def _visit_item(visit: ShownVisit) -> str:
    status = (
        f'<span class="badge schedule-status">{escape(visit.status_label)}</span>' if visit.marked else ""
    )
    location = (
        f'<span class="small text-body-secondary">· {escape(visit.location)}</span>' if visit.location else ""
    )
    return (
        f'<li class="schedule-entry schedule-visit schedule-{escape(visit.status)}">'
        f'<span class="schedule-time">{visit.clinic_times}</span> '
        f'<span class="schedule-what">'
        f'<span class="badge schedule-kind schedule-kind-{escape(visit.kind)}">{escape(visit.kind_label)}</span> '
        f'<a href="{visit.url}">{escape(visit.patient_name)}</a> {status} {_their_time(visit, zone=True)} '
        f"{location}</span></li>"
    )


def _free_item(entry: Entry, name: str, head: str, tail: str) -> str:
    slots = " ".join(
        f'<a class="btn btn-sm btn-outline-primary schedule-slot" href="{head}{slot.param}{tail}" '
        f'hx-get="{head}{slot.param}{tail}" hx-target="#booking-panel" '
        f'aria-label="Book {slot.label} with {name}">{slot.label}</a>'
        for slot in entry.slots
    )
    return (
        f'<li class="schedule-entry schedule-free no-print"><span class="schedule-time">{entry.times}</span> '
        f'<span class="schedule-what d-flex flex-wrap gap-1"><span class="schedule-free-label">Free:</span> '
        f"{slots}</span></li>"
    )


def _away_item(entry: Entry) -> str:
    reason = f": {escape(entry.reason)}" if entry.reason else ""
    return (
        f'<li class="schedule-entry schedule-away"><span class="schedule-time">{entry.times}</span> '
        f'<span class="schedule-what text-body-secondary">Away{reason}</span></li>'
    )


def day_rows(shown: Schedule, *, book: str, booking_query: str) -> None:
    """Each practitioner's day as the ``<li>`` rows of its list (``day.rows_html``), in time order; a free
    slot links to ``book`` for its practitioner and time, with ``booking_query`` (kind, patient, way back)."""
    tail = escape(f"&{booking_query}")
    for row in shown.rows:
        head = escape(f"{book}?practitioner={row.practitioner.pk}&starts_at=")
        for day in row.days:
            name = escape(day.name)
            items = []
            for entry in day.entries:
                if entry.visit is not None:
                    items.append(_visit_item(entry.visit))
                elif entry.slots:
                    items.append(_free_item(entry, name, head, tail))
                else:
                    items.append(_away_item(entry))
            day.rows_html = mark_safe("\n".join(items))  # noqa: S308 — every value above is escaped


def week_lines(shown: Schedule) -> None:
    """Each practitioner's day of the week as the visit lines of its cell (``day.rows_html``)."""
    for row in shown.rows:
        for day in row.days:
            lines = []
            for visit in day.visits:
                status = (
                    f' <span class="text-body-secondary">({escape(visit.status_label.lower())})</span>'
                    if visit.marked
                    else ""
                )
                lines.append(
                    f'<div class="small schedule-week-visit schedule-{escape(visit.status)}">'
                    f'<span class="fw-semibold">{visit.clinic_start}</span> '
                    f'<a href="{visit.url}">{escape(visit.patient_name)}</a> '
                    f'<span class="text-body-secondary">{escape(visit.kind_label)}</span>{status} '
                    f"{_their_time(visit, zone=False)}</div>"
                )
            day.rows_html = mark_safe("\n".join(lines))  # noqa: S308 — every value above is escaped
