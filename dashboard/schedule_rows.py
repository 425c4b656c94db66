"""The schedule's repeated markup — each practitioner's day (its heading, visits, runs of free slots and time
off) and each practitioner's row of the week — written once in Python.

A clinic's week lists hundreds of visits and its day offers hundreds of free slots: through the template
engine each row cost tens of microseconds (a lookup, an escape and a node per value), here a few. The page's
frame stays in the templates (``dashboard/_schedule_day.html``, ``_schedule_week.html``); these are only
what repeats inside it. Every value that comes from a person (names, places, reasons) is escaped here; the
clinic's own labels are escaped once, up front; the rest (times, ids, counts) is made of digits.
"""

from datetime import date
from html import escape

from django.utils.safestring import SafeString, mark_safe

from journeys.models import Visit
from journeys.selectors.schedule import (
    DAY_NAMES,
    MONTH_NAMES,
    Entry,
    PractitionerDay,
    Schedule,
    ShownVisit,
)

KINDS = {kind: (escape(kind), escape(label)) for kind, label in Visit.Kind.choices}
STATUSES = {
    status: (escape(status), escape(label), escape(label.lower())) for status, label in Visit.Status.choices
}


def _kind(visit: ShownVisit) -> tuple[str, str]:
    return KINDS.get(visit.kind) or (escape(visit.kind), escape(visit.kind_label))


def _status(visit: ShownVisit) -> tuple[str, str, str]:
    label = visit.status_label
    return STATUSES.get(visit.status) or (escape(visit.status), escape(label), escape(label.lower()))


def _plural(count: int) -> str:
    return "" if count == 1 else "s"


def _escaped_names(shown: Schedule) -> dict[int, str]:
    """Each listed visit's patient name escaped, by visit id: one ``escape`` over them all (a week lists
    hundreds), joined by NUL, which PostgreSQL's text never holds and ``escape`` leaves alone."""
    visits = [visit for row in shown.rows for day in row.days for visit in day.visits]
    if not visits:
        return {}
    names = escape("\0".join([visit.patient_name for visit in visits])).split("\0")
    return dict(zip([visit.pk for visit in visits], names, strict=True))


# Each patient's clock as the day's list and the week write it, kept for the process by its "when" (a moment
# and a zone, no one's data: a page names a few dozen of them, each printed anew on every load); emptied past
# ``CLOCKS_KEPT``.
CLOCKS_KEPT = 20_000
_day_clocks: dict[str, str] = {}
_week_clocks: dict[str, str] = {}


def _kept(written: dict[str, str]) -> dict[str, str]:
    if len(written) > CLOCKS_KEPT:
        written.clear()
    return written


def _their_time(visit: ShownVisit, *, zone: bool, written: dict[str, str]) -> str:
    """The visit's start on the patient's own clock; ``written`` keeps each clock's markup for the page (the
    visits at one moment in one zone share their clock; one dict for each ``zone``)."""
    clock = visit.patient_clock
    if not clock:
        return ""
    when = clock["when"]
    return written[when] if when in written else _their_markup(clock, zone=zone, written=written)


def _their_markup(clock: dict[str, str], *, zone: bool, written: dict[str, str]) -> str:
    """A patient's clock as ``_their_time`` writes it, kept in ``written`` by its "when". Only the zone's
    name is escaped, once a zone (kept in ``written`` too, under the zone's NUL-led name): the rest of "when"
    is day and month names and digits (``clock["on"]``, ``clock["time"]``)."""
    where = clock["zone"]
    key = f"\0{where}"
    if key not in written:
        written[key] = escape(where)
    where = written[key]
    title = f"{clock['on']} at {clock['time']} in {where}"
    if zone:
        markup = (
            f'<span class="small text-body-secondary text-nowrap" title="{title}">'
            f"{clock['time']} their time ({where})</span>"
        )
    else:
        markup = f'<span class="text-body-secondary" title="{title}">· {clock["time"]} their time</span>'
    written[clock["when"]] = markup
    return markup


def _visit_item(visit: ShownVisit, name: str, written: dict) -> str:
    status, status_label, _ = STATUSES[visit.status] if visit.status in STATUSES else _status(visit)
    kind, kind_label = KINDS[visit.kind] if visit.kind in KINDS else _kind(visit)
    marked = f'<span class="badge schedule-status">{status_label}</span>' if visit.marked else ""
    location = (
        f'<span class="small text-body-secondary">· {escape(visit.location)}</span>' if visit.location else ""
    )
    clock = visit.patient_clock
    if not clock:
        theirs = ""
    elif clock["when"] in written:
        theirs = written[clock["when"]]
    else:
        theirs = _their_markup(clock, zone=True, written=written)
    return (
        f'<li class="schedule-entry schedule-visit schedule-{status}">'
        f'<span class="schedule-time">{visit.clinic_times}</span> '
        f'<span class="schedule-what">'
        f'<span class="badge schedule-kind schedule-kind-{kind}">{kind_label}</span> '
        f'<a href="{visit.url}">{name}</a> {marked} {theirs} '
        f"{location}</span></li>"
    )


def _free_item(entry: Entry, name: str, head: str, tail: str) -> str:
    slots = " ".join(
        [
            f'<a class="btn btn-sm btn-outline-primary schedule-slot" href="{head}{slot.param}{tail}" '
            f'hx-get="{head}{slot.param}{tail}" hx-target="#booking-panel" '
            f'aria-label="Book {slot.label} with {name}">{slot.label}</a>'
            for slot in entry.slots
        ]
    )  # (a list, not a generator: a call a slot, and a clinic's day offers hundreds)
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


def _day_section(day: PractitionerDay, *, pk: int, head: str, tail: str, names: dict, written: dict) -> str:
    name = escape(day.name)
    free = len(day.free)
    summary = (
        f"Working {day.hours} · {day.booked_count} visit{_plural(day.booked_count)}"
        f" · {free} free time{_plural(free)}"
        if day.works
        else f"Not working this day · {day.booked_count} visit{_plural(day.booked_count)}"
    )
    items = [
        _visit_item(entry.visit, names[entry.visit.pk], written)
        if entry.visit is not None
        else _free_item(entry, name, head, tail)
        if entry.slots
        else _away_item(entry)
        for entry in day.entries
    ]
    if items:
        body = '<ol class="list-unstyled schedule-entries mb-0">\n' + "\n".join(items) + "\n</ol>"
    else:
        body = f'<p class="text-body-secondary mb-0">{"Fully booked." if day.works else "No visits this day."}</p>'
    return (
        f'<section class="card mb-3 schedule-day" id="day-{pk}" aria-labelledby="day-{pk}-heading">'
        '<div class="card-body">'
        '<div class="d-flex flex-wrap justify-content-between align-items-baseline gap-2 mb-2">'
        f'<h2 class="h5 mb-0" id="day-{pk}-heading">{name}</h2>'
        f'<span class="small text-body-secondary">{summary}</span>'
        f"</div>\n{body}\n</div></section>"
    )


def day_sections(shown: Schedule, *, book: str, booking_query: str) -> SafeString:
    """Each practitioner's day as its card: the heading and hours, then its visits, time off and runs of
    free slots in time order; a free slot links to ``book`` for its practitioner and time, with
    ``booking_query`` (kind, patient, way back)."""
    tail = escape(f"&{booking_query}")
    names: dict[int, str] = _escaped_names(shown)
    written = _kept(_day_clocks)
    sections = []
    for row in shown.rows:
        pk = int(row.practitioner.pk)
        head = escape(f"{book}?practitioner={pk}&starts_at=")
        sections.append(_day_section(row.days[0], pk=pk, head=head, tail=tail, names=names, written=written))
    return mark_safe("\n".join(sections))  # noqa: S308 — every value above is escaped or digits


def _week_cell(day: PractitionerDay, names: dict[int, str], written: dict[str, str]) -> str:
    # A week lists hundreds of visits: a line each by one comprehension, its clock's markup kept by "when"
    # (no call a visit but the first at each moment and zone).
    lines = [
        f'<div class="small schedule-week-visit schedule-'
        f'{STATUSES[visit.status][0] if visit.status in STATUSES else _status(visit)[0]}">'
        f'<span class="fw-semibold">{visit.clinic_start}</span> '
        f'<a href="{visit.url}">{names[visit.pk]}</a> '
        f'<span class="text-body-secondary">'
        f"{KINDS[visit.kind][1] if visit.kind in KINDS else _kind(visit)[1]}</span>"
        + (
            (
                f' <span class="text-body-secondary">('
                f"{STATUSES[visit.status][2] if visit.status in STATUSES else _status(visit)[2]})</span>"
            )
            if visit.marked
            else ""
        )
        + " "
        + (
            (
                written[visit.patient_clock["when"]]
                if visit.patient_clock["when"] in written
                else _their_markup(visit.patient_clock, zone=False, written=written)
            )
            if visit.patient_clock
            else ""
        )
        + "</div>"
        for visit in day.visits
    ]
    if day.away:
        lines += [
            f'<div class="small text-body-secondary">Away{f": {escape(off.reason)}" if off.reason else ""}</div>'
            for off in day.away
        ]
    if day.free:
        free = len(day.free)
        lines.append(
            f'<a class="small no-print" href="{escape(f"?{day.link}")}">{free} free time{_plural(free)}</a>'
        )
    elif not day.stretches and not day.visits:
        lines.append('<span class="small text-body-secondary">Not working</span>')
    elif not day.visits and not day.away:
        lines.append('<span class="small text-body-secondary">No free time</span>')
    today = ' class="schedule-today"' if day.is_today else ""
    return f"<td{today}>" + "\n".join(lines) + "</td>"


def week_rows(shown: Schedule) -> SafeString:
    """Each practitioner's row of the week: their name, then a cell a day with its visits, time off and a
    link to the day's free times (``day.link``, set by the page)."""
    names: dict[int, str] = _escaped_names(shown)
    written = _kept(_week_clocks)
    rows = []
    for row in shown.rows:
        cells = "\n".join([_week_cell(day, names, written) for day in row.days])
        name = escape(row.days[0].name) if row.days else ""
        rows.append(f'<tr>\n<th scope="row" class="text-nowrap">{name}</th>\n{cells}\n</tr>')
    return mark_safe("\n".join(rows))  # noqa: S308 — every value above is escaped or digits


def week_columns(columns: list[tuple[str, bool, str]]) -> SafeString:
    """The week's heading cells, a day each (its ``(query, is_today, label)``), as the template's loop wrote
    them, white space and all."""
    return mark_safe(  # noqa: S308 — the query and the label escaped
        "".join(
            [
                f'\n              <th scope="col"{' class="schedule-today"' if is_today else ""}>'
                f'\n                <a href="?{escape(link)}">{escape(label)}</a>\n              </th>\n            '
                for link, is_today, label in columns
            ]
        )
    )


def long_day(day: date) -> str:
    """ "Monday 7 December 2026", as the template's ``date:"l j F Y"`` writes it in the clinic's English."""
    return f"{DAY_NAMES[day.weekday()]} {day.day} {MONTH_NAMES[day.month]} {day.year}"


def day_of_month(day: date) -> str:
    """ "7 December 2026" (``date:"j F Y"``)."""
    return f"{day.day} {MONTH_NAMES[day.month]} {day.year}"


def short_day(day: date) -> str:
    """ "Mon 7 Dec" (``date:"D j M"``)."""
    return f"{DAY_NAMES[day.weekday()][:3]} {day.day} {MONTH_NAMES[day.month][:3]}"
