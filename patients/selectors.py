"""Reads of patients for pages and for other apps. Opening one patient's record is audited here."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from operator import attrgetter

from django.contrib.auth import get_user_model
from django.core import signing
from django.db import connection
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.db.models.query import MAX_GET_RESULTS
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone

from accounts.audit import record_access
from accounts.models import AccessEvent, User
from accounts.permissions import EVERYONE, has_role
from accounts.queries import AnyOf, Compiled, InSmallSet, built_per_thread

from .models import (
    AdvocateLink,
    CareTeamMember,
    Channel,
    ConsentEvent,
    ConsentRequest,
    MarketingConsentEvent,
    Patient,
    Testimonial,
)
from .tokens import read_referral_token, referral_token
from .validation import PRACTISING_ROLES

# The list's orders that an index serves (patient_active_by_name, patient_active_by_added), read forwards or
# backwards: any number of patients. Orders by another app's data (the stage) or by a per-patient lookup (the
# lead) are bounded by the page that asks for them.
SORTS = {
    "name": ("last_name", "first_name", "id"),
    "-name": ("-last_name", "-first_name", "-id"),
    "added": ("created_at", "id"),
    "-added": ("-created_at", "-id"),
}


def patient_list(
    *,
    query: str = "",
    lead_id: int | None = None,
    source: str = "",
    archived: str = "active",
    sort: str = "name",
    terms: list[str] | None = None,
) -> QuerySet[Patient]:
    """Patients for the list page: searched, filtered, sorted. Plain rows: the lead filter is an EXISTS, and
    the lead and consent annotations are left to ``patient_list_rows`` for the one page shown (so an OFFSET
    never runs them for the rows it skips). ``terms``: the search's terms as given (``search_terms`` of the
    query, or a compiled read's markers for them), in place of the query's."""
    qs = Patient.objects.all()
    if archived == "active":
        qs = qs.filter(archived=False)
    elif archived == "archived":
        qs = qs.filter(archived=True)
    if terms is not None:
        qs = qs.containing(terms)
    elif query:
        qs = qs.matching(query)
    if lead_id is not None:
        leads = CareTeamMember.objects.current().filter(patient=OuterRef("pk"), role=CareTeamMember.Role.LEAD)
        qs = qs.filter(Exists(leads.filter(user_id=lead_id))) if lead_id else qs.filter(~Exists(leads))
    if source:
        qs = qs.filter(source=source)
    return qs.order_by(*SORTS.get(sort, SORTS["name"]))


FIND_SHOWN = 8


def patient_find(query: str, *, limit: int = FIND_SHOWN) -> list[Patient]:
    """A few active patients matching ``query`` (name, email or phone), by name: a picker's suggestions."""
    return list(Patient.objects.active().matching(query).order_by(*SORTS["name"])[:limit])


@built_per_thread
def _with_lead() -> QuerySet[Patient]:
    return Patient.objects.with_lead()


def patients_with_lead() -> QuerySet[Patient]:
    """Patients with ``lead_name`` (and ``lead_user_id``) annotated, to filter or ``.get()`` from: its two
    subqueries are built once per thread (they cost the ORM more than a read by key costs the database)."""
    return _with_lead()


_LEADS_MARKER = [918_273_646]  # ids no other read of the leads spells


@built_per_thread
def _lead_names_compiled() -> Compiled:
    leads = _with_lead().filter(AnyOf("pk", _LEADS_MARKER)).order_by()
    return Compiled(
        leads.values_list("pk", "lead_name"),  # type: ignore[misc]  # annotated by with_lead(), out of the stubs' sight
        _LEADS_MARKER,
    )


def lead_names(ids: Iterable[int]) -> dict[int, str | None]:
    """Each of these patients' lead practitioner's name (None without a lead), in one query compiled once per
    thread (a list page's patients: one array parameter, whatever their number); none for no ids."""
    ids = sorted(set(ids))
    return dict(_lead_names_compiled().rows(ids)) if ids else {}


@built_per_thread
def _list_rows() -> QuerySet[Patient]:
    """The list page's annotated queryset: its six subqueries cost the ORM more to build than the database to
    run, so it is built once per thread, never evaluated, and each page's query is a clone of it."""
    return Patient.objects.with_lead().with_consent()


_IDS_MARKER = [918_273_645]  # ids no list page's query spells otherwise


@built_per_thread
def _list_rows_compiled() -> Compiled[Patient]:
    """The page's read compiled once per thread (its six subqueries cost ~1 ms of Python to compile on every
    list page), its ids one array parameter (``AnyOf``)."""
    return Compiled(_list_rows().filter(AnyOf("pk", _IDS_MARKER)), _IDS_MARKER, plain_models=True)


def patient_list_rows(ids: list[int]) -> list[Patient]:
    """The patients of one list page, with lead and consent annotated: one query (none for no ids)."""
    return _list_rows_compiled().rows(list(ids)) if ids else []


def patient_export_rows(ids: list[int]) -> list[Patient]:
    """The patients ``ids`` name with the same ``lead_name`` and consent attributes as
    ``patient_list_rows``, for a download: three plain queries by index (the patients, their current leads,
    their consent history) and no per-patient subquery, so a chunk of thousands costs what its rows cost."""
    patients = list(Patient.objects.filter(pk__in=ids))
    leads = dict(
        CareTeamMember.objects.current()
        .filter(patient_id__in=ids, role=CareTeamMember.Role.LEAD)
        .values_list("patient_id", "user__display_name")
    )
    latest: dict[tuple[int, str], tuple[bool | None, str | None]] = {}
    for patient_id, channel, granted, address in (
        ConsentEvent.objects.filter(patient_id__in=ids)
        .order_by("patient_id", "channel", "-at", "-id")
        .values_list("patient_id", "channel", "granted", "address")
    ):
        latest.setdefault((patient_id, channel), (granted, address))
    for patient in patients:
        patient.lead_name = leads.get(patient.pk)
        for channel in Channel.values:
            given, to = latest.get((patient.pk, channel), (None, None))
            setattr(patient, f"{channel}_consent_granted", given)
            setattr(patient, f"{channel}_consent_address", to)
    return patients


# Who may open a patient's record: every active member of the clinic, whatever their role.
PATIENT_READERS = EVERYONE


@built_per_thread
def _record_queryset() -> QuerySet[Patient]:
    """The patient record's query, built once per thread: its eight annotated subqueries cost more Python
    to build than the read itself costs the database. Never evaluated itself; each read clones it
    (``.get()`` filters a copy), so no row is ever kept here."""
    return Patient.objects.with_lead().with_consent().select_related("referred_by")


_RECORD_MARKER = 918_273_645  # an id no patient's record query spells otherwise


@built_per_thread
def _record_compiled() -> Compiled[Patient]:
    """The record's query compiled once per thread (its eight subqueries cost ~1 ms of Python to compile on
    every page), run with each request's id; the same SQL ``.get(pk=…)`` runs, its LIMIT included."""
    return Compiled(_record_queryset().filter(pk=_RECORD_MARKER).order_by()[:MAX_GET_RESULTS], _RECORD_MARKER)


def patient_get_for(*, user: User, pk: int, action: str = AccessEvent.Action.VIEW) -> Patient:
    """One patient's record for ``user``, scoped to ``user``; a view (``action="view"``) is audited here,
    any other ``action`` is left to the service that makes the change.

    The scope, for this single-clinic product: a signed-in, active user with a clinic role (admin,
    practitioner or staff: ``PATIENT_READERS``) may open every patient's record, archived ones included —
    staff find them under "Archived" and restore them, so archiving hides a patient from the default list
    and from messages, never from the clinic. What each role may read *inside* the record is minimum
    necessary, decided by each panel. Anyone else (an anonymous visitor, an inactive account, a user
    without a clinic role) is refused exactly like an unknown patient, with a 404, and the refusal is
    written to the audit trail as ``denied``. An unknown ``pk`` is a plain 404: there is nobody to audit.
    """
    if isinstance(pk, int) or (isinstance(pk, str) and pk.isdigit()):
        found = _record_compiled().rows(int(pk))
        if not found:
            raise Http404("No Patient matches the given query.")
        patient = found[0]
    else:  # not an id: as the ORM answers it (a 404 for nothing, its error for anything else)
        patient = get_object_or_404(_record_queryset(), pk=pk)
    if not has_role(user, PATIENT_READERS):
        record_access(
            action=AccessEvent.Action.DENIED,
            actor=user,
            patient_id=patient.pk,
            obj=patient,
            detail="patient record refused: no active clinic role",
        )
        raise Http404("No patient matches the given query.")
    if action == AccessEvent.Action.VIEW:
        record_access(action=action, actor=user, patient_id=patient.pk, obj=patient)
    return patient


def care_team_member_get(*, patient: Patient, pk: int) -> CareTeamMember:
    """A member of this patient's care team (404 otherwise). A member of another patient's team, asked for
    under this patient, is refused exactly like an unknown one, and the refusal is audited."""
    member = get_object_or_404(CareTeamMember.objects.select_related("user"), pk=pk)
    if member.patient_id != patient.pk:
        record_access(
            action=AccessEvent.Action.DENIED,
            patient_id=member.patient_id,
            obj=member,
            detail=f"care team member asked for under patient {patient.pk}",
        )
        raise Http404("No care team member matches the given query.")
    return member


def patient_find_duplicates(
    *, email: str = "", phone: str = "", exclude_pk: int | None = None
) -> list[Patient]:
    """Patients who already use this email address or phone number."""
    condition = Q()
    if email:
        condition |= Q(email__iexact=email)
    if phone:
        condition |= Q(phone=phone)
    if not condition:
        return []
    qs = Patient.objects.filter(condition)
    if exclude_pk:
        qs = qs.exclude(pk=exclude_pk)
    return list(qs.order_by("archived", "id")[:5])


@dataclass(frozen=True)
class ConsentState:
    channel: str
    granted: bool
    address: str
    at: datetime | None
    via: str
    covers_current_address: bool

    @property
    def active(self) -> bool:
        return self.granted and self.covers_current_address


_PATIENT_MARKER = 918_273_647  # an id no read of a patient's consent or care team spells otherwise
CONSENT_SHOWN = 10  # the Contact tab's latest consent rows, and requests waiting


@built_per_thread
def _latest_consent_compiled() -> dict[str, Compiled[ConsentEvent]]:
    """Each channel's latest consent row: ``.filter(patient=…, channel=…).order_by("-at", "-id").first()``'s
    SQL, compiled once per thread (the Contact tab and the one-off form read it on every request)."""
    return {
        channel: Compiled(
            ConsentEvent.objects.filter(patient_id=_PATIENT_MARKER, channel=channel).order_by("-at", "-id")[
                :1
            ],
            _PATIENT_MARKER,
        )
        for channel in Channel.values
    }


def patient_consent(patient: Patient) -> dict[str, ConsentState]:
    """The current consent per channel, derived from the history (latest row wins)."""
    states = {}
    reads = _latest_consent_compiled()
    for channel in Channel.values:
        found = reads[channel].rows(patient.pk)
        latest = found[0] if found else None
        current_address = patient.email if channel == Channel.EMAIL else patient.phone
        states[channel] = ConsentState(
            channel=channel,
            granted=bool(latest and latest.granted),
            address=latest.address if latest else "",
            at=latest.at if latest else None,
            via=latest.via if latest else "",
            covers_current_address=bool(latest and current_address and latest.address == current_address),
        )
    return states


def patient_may_message(patient: Patient, channel: str) -> tuple[bool, str]:
    """Whether the patient may be messaged on ``channel`` now, and if not, why (for the outbox).

    Uses the ``with_consent()`` annotations when the patient was loaded with them (no query), else asks.
    """
    if patient.archived:
        return False, "patient is archived"
    if patient.unsubscribed_at:
        return False, "patient unsubscribed"
    label = Channel(channel).label
    current_address = patient.email if channel == Channel.EMAIL else patient.phone
    if hasattr(patient, f"{channel}_consent_granted"):
        granted = bool(getattr(patient, f"{channel}_consent_granted"))
        address = getattr(patient, f"{channel}_consent_address") or ""
    else:
        state = patient_consent(patient)[channel]
        granted, address = state.granted, state.address
    if not granted:
        return False, f"no {label} consent"
    if not current_address or address != current_address:
        return False, f"{label} consent was given for another address"
    return True, ""


def consent_history(patient: Patient) -> QuerySet[ConsentEvent]:
    return patient.consent_events.select_related("recorded_by").order_by("-at", "-id")


@built_per_thread
def _recent_consent_compiled() -> Compiled[ConsentEvent]:
    """``consent_history(patient)[:CONSENT_SHOWN]``'s SQL, compiled once per thread."""
    return Compiled(
        ConsentEvent.objects.filter(patient_id=_PATIENT_MARKER)
        .select_related("recorded_by")
        .order_by("-at", "-id")[:CONSENT_SHOWN],
        _PATIENT_MARKER,
    )


@built_per_thread
def _waiting_requests_compiled() -> Compiled[ConsentRequest]:
    """``consent_requests_waiting(patient)[:CONSENT_SHOWN]``'s SQL, compiled once per thread."""
    return Compiled(
        ConsentRequest.objects.filter(patient_id=_PATIENT_MARKER)
        .filter(confirmed_at__isnull=True)  # after the patient's, as the related manager's query puts it
        .order_by("-requested_at", "-id")[:CONSENT_SHOWN],
        _PATIENT_MARKER,
    )


def recent_consent(patient: Patient) -> tuple[list[ConsentEvent], list[ConsentRequest]]:
    """The Contact tab's ``CONSENT_SHOWN`` latest consent rows (with who recorded them) and requests still
    waiting for the patient's confirmation, newest first: ``consent_history`` and ``consent_requests_waiting``
    by their SQL compiled once per thread (two queries), the rows knowing their patient."""
    events = _recent_consent_compiled().rows(patient.pk)
    requests = _waiting_requests_compiled().rows(patient.pk)
    for event in events:
        event.patient = patient  # as the related manager's rows know it: no query to reach it
    for asked in requests:
        asked.patient = patient
    return events, requests


@built_per_thread
def _care_team_compiled() -> Compiled[CareTeamMember]:
    """``patient.care_team``'s members with their users, by the SQL compiled once per thread."""
    return Compiled(
        CareTeamMember.objects.filter(patient_id=_PATIENT_MARKER)
        .select_related("user", "added_by")
        .order_by("started_at", "id"),
        _PATIENT_MARKER,
    )


def care_team(patient: Patient) -> tuple[list[CareTeamMember], list[CareTeamMember]]:
    """(current members, lead first; former members, newest first)."""
    members = _care_team_compiled().rows(patient.pk)
    for member in members:
        member.patient = patient  # as the related manager's rows know it: no query to reach it
    order = {role: i for i, role in enumerate(CareTeamMember.Role.values)}
    # A role no form offers (a row written before roles were checked) sorts last instead of breaking the page.
    current = sorted(
        (m for m in members if m.ended_at is None),
        key=lambda m: (order.get(m.role, len(order)), m.started_at),
    )
    former = sorted((m for m in members if m.ended_at is not None), key=attrgetter("ended_at"), reverse=True)
    return current, former


def lead_candidates() -> QuerySet:
    """Active practitioners (and admins who practise) who can lead a patient's care: ``may_lead`` as a query."""
    return get_user_model().objects.filter(is_active=True, role__in=PRACTISING_ROLES)


@built_per_thread
def _lead_choices_compiled() -> Compiled:
    """``lead_choices``' read compiled once per thread: it runs on every patient list and move form."""
    return Compiled(lead_candidates().values_list("pk", "display_name", "username"))


def lead_choices() -> list[tuple[str, str]]:
    """``(id, name)`` of every lead candidate, in name order, for a filter's options: one query and no model
    instance each (a clinic group has hundreds of practitioners on every list page's filter bar)."""
    return [
        (str(pk), display_name or username)  # as ``User.__str__`` names them
        for pk, display_name, username in _lead_choices_compiled().rows()
    ]


def team_candidates() -> QuerySet:
    return get_user_model().objects.filter(is_active=True)


_PRACTISING = frozenset(role.value for role in PRACTISING_ROLES)


@built_per_thread
def _team_names_compiled() -> Compiled:
    """``team_candidates()``' ids, names and roles in name order, compiled once per thread."""
    return Compiled(team_candidates().values_list("pk", "display_name", "username", "role"))


def care_team_candidates() -> tuple[list[tuple[int, str, str]], list[tuple[int, str, str]]]:
    """``(lead_candidates(), team_candidates())`` as ``(id, display name, username)`` rows in name order, in one
    query: the lead candidates are the team candidates who practise, in the same order (a username is unique,
    so the order is total). For the care team's two forms, on every Contact tab."""
    rows = _team_names_compiled().rows()
    leads = [(pk, display_name, username) for pk, display_name, username, role in rows if role in _PRACTISING]
    return leads, [(pk, display_name, username) for pk, display_name, username, _ in rows]


def consent_requests_waiting(patient: Patient) -> QuerySet[ConsentRequest]:
    """Requests to write to the patient that the patient has not confirmed, newest first (one query)."""
    return patient.consent_requests.filter(confirmed_at__isnull=True).order_by("-requested_at", "-id")


def consent_requests_awaiting_text_reply(*, phone: str, valid_for: timedelta) -> dict[int, ConsentRequest]:
    """For each patient whose number is ``phone``: their latest text-message request that we asked that
    number to confirm by text within ``valid_for`` and that nobody confirmed yet (one query)."""
    requests = ConsentRequest.objects.filter(
        channel=Channel.SMS,
        address=phone,
        patient__phone=phone,
        confirmation_sent_at__gte=timezone.now() - valid_for,
        confirmed_at__isnull=True,
    ).order_by("patient_id", "-confirmation_sent_at", "-id")
    latest: dict[int, ConsentRequest] = {}
    for request in requests:
        latest.setdefault(request.patient_id, request)
    return latest


# --- Advocacy: marketing consent, testimonials, referral links ------------------------------------


def marketing_consent_granted(patient: Patient) -> bool:
    """Whether the patient's latest word on marketing-type messages is yes (one query)."""
    latest = (
        MarketingConsentEvent.objects.filter(patient=patient).order_by("-at", "-id").values("granted").first()
    )
    return bool(latest and latest["granted"])


def advocate_for_referral_token(token: str) -> Patient | None:
    """The advocate whose signed referral code this is, or None for a missing, altered or unknown one."""
    if not token:
        return None
    try:
        code = read_referral_token(token[:100])
    except signing.BadSignature:
        return None
    link = AdvocateLink.objects.select_related("patient").filter(code=code).first()
    if link is None or link.patient.archived:
        return None
    return link.patient


def patient_testimonials(patient: Patient) -> list[Testimonial]:
    return list(Testimonial.objects.filter(patient=patient).order_by("-consented_at", "-id"))


@cache
def _contenders_sql() -> str:
    """The referrers (id, referrals) with at least the ``%s``-th highest number of referrals. The referrals are
    counted once on the referrer index, COUNT(*) (read from the index alone; COUNT of the id read every
    referred patient's row: 16 ms against 3 at 100,000 patients)."""
    qn = connection.ops.quote_name
    table = qn(Patient._meta.db_table)
    referrer = f"{table}.{qn(Patient._meta.get_field('referred_by').column)}"
    counted = (
        f'SELECT {referrer} AS "referrer", COUNT(*) AS "n" FROM {table} '  # noqa: S608 — names from the model
        f"WHERE {referrer} IS NOT NULL GROUP BY 1"
    )
    return (
        f'WITH "counted" AS ({counted}) SELECT "referrer", "n" FROM "counted" WHERE "n" >= '  # noqa: S608 — ours
        '(SELECT MIN("n") FROM (SELECT "n" FROM "counted" ORDER BY "n" DESC LIMIT %s) "top")'
    )


def advocates(*, limit: int) -> list[Patient]:
    """Patients who speak for the clinic: a testimonial (shown or withdrawn), a referral link or a referral;
    most referrals first, then by name, at most ``limit``, each with ``referral_count`` set. Two queries, three
    when fewer than ``limit`` have referred anyone, whatever the clinic's size.

    The referrals are counted once on the referrer index (a few thousand referrers at 100,000 patients) and
    only the patients who can make the first ``limit`` are read: every patient tested with three EXISTS and
    grouped for a count took 340 ms at that size, and a count per candidate still 110 ms."""
    # Only the referrers who can make the first ``limit`` leave the database: those with at least the
    # ``limit``-th highest count (ties at the cut are broken by name below), a hundred or so of the thousands.
    with connection.cursor() as cursor:
        cursor.execute(_contenders_sql(), [limit])
        counts = dict(cursor.fetchall())
    contenders = list(counts)
    chosen = list(Patient.objects.filter(pk__in=contenders).order_by("last_name", "first_name", "id"))
    for patient in chosen:
        patient.referral_count = counts[patient.pk]
    chosen.sort(
        key=lambda patient: -patient.referral_count
    )  # stable: the database's name order within a count
    chosen = chosen[:limit]
    if len(chosen) < limit:  # every referrer is in: then those with a testimonial or a link, by name
        spoke = Q(InSmallSet("pk", Subquery(Testimonial.objects.order_by().values("patient")))) | Q(
            InSmallSet("pk", Subquery(AdvocateLink.objects.order_by().values("patient")))
        )
        for patient in (
            Patient.objects.filter(spoke)
            .exclude(pk__in=contenders)
            .order_by("last_name", "first_name", "id")[: limit - len(chosen)]
        ):
            patient.referral_count = 0
            chosen.append(patient)
    return chosen


def testimonial_get(*, patient: Patient, pk: int) -> Testimonial:
    """One of this patient's testimonials (404 otherwise; one of another patient's is refused and audited)."""
    testimonial = get_object_or_404(Testimonial, pk=pk)
    if testimonial.patient_id != patient.pk:
        record_access(
            action=AccessEvent.Action.DENIED,
            patient_id=testimonial.patient_id,
            obj=testimonial,
            detail=f"testimonial asked for under patient {patient.pk}",
        )
        raise Http404("No testimonial matches the given query.")
    return testimonial


def advocate_link_token(patient: Patient) -> str:
    """The patient's signed referral token, or "" before one was made (one query)."""
    code = AdvocateLink.objects.filter(patient=patient).values_list("code", flat=True).first()
    return referral_token(code) if code else ""


REFERRALS_SHOWN = 20
_ADVOCATE_MARKER = 918_273_645  # an id the advocacy reads spell nowhere else


@dataclass(frozen=True)
class Advocacy:
    """The patient page's Advocacy panel: the marketing consent in force, the testimonials, the signed
    referral token ("" before a link was made) and the latest patients who came through it."""

    marketing_consent: bool
    testimonials: list[Testimonial]
    referral_token: str
    referrals: list[Patient]


def _advocacy_word_query(patient_id: int) -> QuerySet:
    """``marketing_consent_granted``'s and ``advocate_link_token``'s reads as one row of two subqueries."""
    latest_word = MarketingConsentEvent.objects.filter(patient_id=patient_id).order_by("-at", "-id")
    link = AdvocateLink.objects.filter(patient_id=patient_id).order_by("pk")
    return (
        Patient.objects.filter(pk=patient_id)
        .annotate(
            consent_granted=Subquery(latest_word.values("granted")[:1]),
            link_code=Subquery(link.values("code")[:1]),
        )
        .values_list("consent_granted", "link_code")
    )


def _testimonials_query(patient_id: int) -> QuerySet[Testimonial]:
    return Testimonial.objects.filter(patient_id=patient_id).order_by("-consented_at", "-id")


def _referrals_query(patient_id: int) -> QuerySet[Patient]:
    return Patient.objects.filter(referred_by_id=patient_id).order_by("-created_at", "-id")[:REFERRALS_SHOWN]


@built_per_thread
def _advocacy_reads() -> dict[str, Compiled]:
    """``patient_advocacy``'s three reads compiled once per thread: the Journey tab runs them on every load."""
    return {
        name: Compiled(build(_ADVOCATE_MARKER), _ADVOCATE_MARKER)
        for name, build in (
            ("word", _advocacy_word_query),
            ("testimonials", _testimonials_query),
            ("referrals", _referrals_query),
        )
    }


def patient_advocacy(patient: Patient) -> Advocacy:
    """What the Advocacy panel shows, in three queries (the consent in force and the link's code are one row)."""
    reads = _advocacy_reads()
    words = reads["word"].rows(patient.pk)
    granted, code = words[0] if words else (None, None)
    return Advocacy(
        marketing_consent=bool(granted),
        testimonials=reads["testimonials"].rows(patient.pk),
        referral_token=referral_token(code) if code else "",
        referrals=reads["referrals"].rows(patient.pk),
    )
