"""The Contact tab's two sections, contact and consent and the care team, written in Python: the template
engine's lookups, filters and tags (a ``date`` filter a consent row, a choice's label a field, a ``{% url %}``
and a ``{% csrf_token %}`` a form) cost the tab more than its reads. The markup here is the sections' only copy
(what templates/patients/_contact_panel.html and _care_team_panel.html wrote before;
tests/patients/test_contact_rows.py holds them); every text in it is escaped (``accounts.markup.escaped``, as
the template engine's autoescape), the clinic's own labels once, and times are written on the clinic's clock
as the ``date`` filter writes them (``j M Y``, ``j M Y, H:i``) and the ``time`` filter (``H:i``)."""

from __future__ import annotations

from datetime import datetime, time
from functools import lru_cache

from django.urls import reverse
from django.utils import timezone
from django.utils.dates import MONTHS_3
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language

from accounts.links import url_around_id
from accounts.markup import escaped

from .models import (
    CareTeamMember,
    Channel,
    ConsentEvent,
    ConsentRequest,
    Patient,
    checkin_hour_choices,
)
from .selectors import ConsentState
from .validation import format_phone

_CHANNELS = {channel: escaped(label) for channel, label in Channel.choices}
_SOURCES = {source: escaped(label) for source, label in Patient.Source.choices}
_CHECKIN_HOURS = {hour: escaped(label) for hour, label in checkin_hour_choices()}
_ROLES = {role: escaped(label) for role, label in CareTeamMember.Role.choices}

_FIELDS = (
    '<dl class="row small mb-0">'
    '<dt class="col-5">Email</dt><dd class="col-7">{email}</dd>'
    '<dt class="col-5">Mobile</dt><dd class="col-7">{phone}</dd>'
    '<dt class="col-5">Prefers</dt><dd class="col-7">{channel}</dd>'
    '<dt class="col-5">Time zone</dt><dd class="col-7">{zone}</dd>'
    '<dt class="col-5">Quiet hours</dt><dd class="col-7" id="quiet-hours">{start}–{end} their time</dd>'
    '<dt class="col-5">Check-ins asked</dt><dd class="col-7" id="checkin-hour">{checkin} their time</dd>'
    '<dt class="col-5">Source</dt><dd class="col-7">{source}{referred}</dd>'
    "</dl>"
)
_REFERRED = ' · referred by <a href="{url}">{name}</a>'
_UNSUBSCRIBED = (
    '<div class="alert alert-secondary small mt-3 mb-0">Unsubscribed from all messages on {on}.</div>'
)
_CONSENT = (
    '<li class="d-flex justify-content-between align-items-center py-1 border-bottom" id="consent-{channel}">'
    "<span> {label} : {badge} </span>"
    '<form method="post" action="{action}" class="m-0">'
    '<input type="hidden" name="csrfmiddlewaretoken" value="{csrf}">'
    '<input type="hidden" name="channel" value="{channel}">'
    "{change}"
    "</form>"
    "</li>"
)
_GIVEN = '<span class="badge text-bg-success">given</span>'
_OLD_ADDRESS = (
    '<span class="badge text-bg-warning" title="Given for {address}">given for an old address</span>'
)
_WITHDRAWN = '<span class="badge text-bg-secondary">withdrawn</span>'
_NOT_ASKED = '<span class="badge text-bg-light border">not asked</span>'
_WITHDRAW = (
    '<input type="hidden" name="granted" value="no">'
    '<button type="submit" class="btn btn-link btn-sm p-0">Record withdrawal</button>'
)
_GRANT = (
    '<input type="hidden" name="granted" value="yes">'
    '<button type="submit" class="btn btn-link btn-sm p-0">Record consent</button>'
)
_REQUEST = '<li class="text-body-secondary">{on}: {channel} to {address} asked for via {via} — {waiting}</li>'
_WAITING_TEXT = "waiting for the patient to reply YES to the text we sent"
_WAITING_LINK = "waiting for the patient to confirm from the link we emailed"
_WAITING_YOU = "not consent until the patient confirms it to you"
_EVENT = '<li class="mb-1">{at} — {verb} {channel} for {address} · {via}{by}</li>'


def _label(labels: dict, value: object) -> str:
    found = labels.get(value)
    return found if found is not None else escaped(value)


@lru_cache(maxsize=16)
def _months(language: str | None) -> tuple[str, ...]:
    return ("", *(str(MONTHS_3[month]).title() for month in range(1, 13)))  # the ``date`` filter's "M"


class _Clock:
    """The ``date`` filter's ``j M Y`` and ``j M Y, H:i`` on the clinic's clock (the current time zone)."""

    def __init__(self) -> None:
        self.zone = timezone.get_current_timezone()
        self.months = _months(get_language())

    def day(self, moment: datetime) -> str:
        local = moment.astimezone(self.zone)
        return f"{local.day} {self.months[local.month]} {local.year:04d}"

    def minute(self, moment: datetime) -> str:
        local = moment.astimezone(self.zone)
        return f"{local.day} {self.months[local.month]} {local.year:04d}, {local.hour:02d}:{local.minute:02d}"


def _hour(value: time | None) -> str:
    return "" if value is None else f"{value.hour:02d}:{value.minute:02d}"  # the ``time`` filter's "H:i"


def _fields(patient: Patient, clock: _Clock) -> str:
    referred = ""
    if patient.referred_by_id is not None:
        referrer = patient.referred_by
        head, tail = url_around_id("dashboard:patient")
        referred = _REFERRED.format(
            url=escaped(f"{head}{int(referrer.pk)}{tail}"), name=escaped(referrer.display_name)
        )
    phone = format_phone(patient.phone)
    html = _FIELDS.format(
        email=escaped(patient.email) if patient.email else "—",
        phone=escaped(phone) if phone else "—",
        channel=_label(_CHANNELS, patient.preferred_channel),
        zone=escaped(patient.time_zone),
        start=_hour(patient.quiet_hours_start),
        end=_hour(patient.quiet_hours_end),
        checkin=_label(_CHECKIN_HOURS, patient.checkin_hour),
        source=_label(_SOURCES, patient.source),
        referred=referred,
    )
    if patient.unsubscribed_at:
        html += _UNSUBSCRIBED.format(on=clock.day(patient.unsubscribed_at))
    return html


def _badge(state: ConsentState) -> str:
    if state.active:
        return _GIVEN
    if state.granted:
        return _OLD_ADDRESS.format(address=escaped(state.address))
    return _WITHDRAWN if state.at else _NOT_ASKED


def _waiting(asked: ConsentRequest) -> str:
    if asked.confirmation_sent_at and asked.channel == Channel.SMS:
        return _WAITING_TEXT
    return _WAITING_LINK if asked.confirmation_sent_at else _WAITING_YOU


def contact_panel_html(
    patient: Patient,
    *,
    consent: dict[str, ConsentState],
    requests: list[ConsentRequest],
    history: list[ConsentEvent],
    csrf_token: str,
) -> SafeString:
    """The contact details, the consent in force per channel with its form (``csrf_token`` in each), the
    requests waiting for the patient's confirmation and the latest consent history, as the template wrote
    them."""
    clock = _Clock()
    head, tail = url_around_id("patients:consent")
    action = escaped(f"{head}{int(patient.pk)}{tail}")
    csrf = escaped(csrf_token)
    parts = [_fields(patient, clock), '<h3 class="h6 mt-4">Consent</h3><ul class="list-unstyled small mb-2">']
    for channel, state in consent.items():
        parts.append(
            _CONSENT.format(
                channel=escaped(channel),
                label="Email" if channel == "email" else "SMS",
                badge=_badge(state),
                action=action,
                csrf=csrf,
                change=_WITHDRAW if state.active else _GRANT,
            )
        )
    parts.append("</ul>")
    if requests:
        parts.append('<ul class="list-unstyled small mb-2" id="consent-requests">')
        for asked in requests:
            parts.append(
                _REQUEST.format(
                    on=clock.day(asked.requested_at),
                    channel=_label(_CHANNELS, asked.channel),
                    address=escaped(asked.address),
                    via=escaped(asked.via),
                    waiting=_waiting(asked),
                )
            )
        parts.append("</ul>")
    if history:
        parts.append(
            '<details class="small"><summary>Consent history</summary><ul class="list-unstyled mt-2 mb-0">'
        )
        for event in history:
            by = event.recorded_by
            parts.append(
                _EVENT.format(
                    at=clock.minute(event.at),
                    verb="granted" if event.granted else "withdrew",
                    channel=_label(_CHANNELS, event.channel),
                    address=escaped(event.address),
                    via=escaped(event.via),
                    by=f" by {escaped(str(by))}" if by is not None else "",
                )
            )
        parts.append("</ul></details>")
    return mark_safe("".join(parts))  # noqa: S308 — every text in it escaped above


_CSRF = '<input type="hidden" name="csrfmiddlewaretoken" value="{csrf}">'
_MEMBER = (
    '<li class="list-group-item px-0 d-flex justify-content-between align-items-center">'
    "<span> <strong>{name}</strong> "
    '<span class="badge {badge} ms-1">{role}</span>{where} </span>{remove}</li>'
)
_WHERE = '<div class="small text-body-secondary">{practice} {contact}</div>'
_REMOVE = (
    '<form method="post" action="{action}" class="m-0">{csrf}'
    '<button type="submit" class="btn btn-link btn-sm text-danger p-0" aria-label="Remove {name}">Remove</button>'
    "</form>"
)
_NO_TEAM = '<li class="list-group-item px-0 text-body-secondary">No one on the care team yet: choose a lead below.</li>'
_FORMS = (
    '<details class="mb-2"{open}><summary>{choose} lead practitioner</summary>'
    '<form method="post" action="{lead_action}" class="mt-2" id="change-lead-form">{csrf}{lead_form}'
    '<button type="submit" class="btn btn-primary btn-sm">Change lead</button></form></details>'
    "<details><summary>Add to the care team</summary>"
    '<form method="post" action="{add_action}" class="mt-2">{csrf}{member_form}'
    '<button type="submit" class="btn btn-outline-primary btn-sm">Add</button></form></details>'
)
_FORMER = "<li>{name} — {role}, {started} to {ended}</li>"


def care_team_panel_html(
    patient: Patient,
    *,
    current: list[CareTeamMember],
    former: list[CareTeamMember],
    lead_form_html: str,
    member_form_html: str,
    csrf_token: str,
) -> SafeString:
    """The current team (each but the lead with its remove form), the forms to change the lead and add a member
    (``csrf_token`` in each form; the forms' fields as given, crispy's markup), and the former team."""
    csrf = _CSRF.format(csrf=escaped(csrf_token))
    parts = ['<ul class="list-group list-group-flush mb-3" id="care-team">']
    for member in current:
        name = escaped(member.name)
        lead = member.role == CareTeamMember.Role.LEAD
        where = ""
        if member.external_practice or member.external_contact:
            where = _WHERE.format(
                practice=escaped(member.external_practice), contact=escaped(member.external_contact)
            )
        remove = ""
        if not lead:
            action = reverse("patients:care_team_remove", args=[patient.pk, member.pk])
            remove = _REMOVE.format(action=escaped(action), csrf=csrf, name=name)
        parts.append(
            _MEMBER.format(
                name=name,
                badge="text-bg-success" if lead else "badge-soft",
                role=_label(_ROLES, member.role),
                where=where,
                remove=remove,
            )
        )
    if not current:
        parts.append(_NO_TEAM)
    parts.append("</ul>")
    led = bool(getattr(patient, "lead_name", ""))  # the record's annotation; none read as no lead
    lead_head, lead_tail = url_around_id("patients:change_lead")
    add_head, add_tail = url_around_id("patients:care_team_add")
    parts.append(
        _FORMS.format(
            open="" if led else " open",
            choose="Change" if led else "Choose a",
            lead_action=escaped(f"{lead_head}{int(patient.pk)}{lead_tail}"),
            add_action=escaped(f"{add_head}{int(patient.pk)}{add_tail}"),
            csrf=csrf,
            lead_form=lead_form_html,
            member_form=member_form_html,
        )
    )
    if former:
        clock = _Clock()
        parts.append(
            '<details class="small mt-3"><summary>Former care team</summary><ul class="list-unstyled mt-2 mb-0">'
        )
        for member in former:
            parts.append(
                _FORMER.format(
                    name=escaped(member.name),
                    role=_label(_ROLES, member.role),
                    started=clock.day(member.started_at),
                    ended=clock.day(member.ended_at) if member.ended_at else "",
                )
            )
        parts.append("</ul></details>")
    return mark_safe("".join(parts))  # noqa: S308 — every text in it escaped above, the forms crispy's own
