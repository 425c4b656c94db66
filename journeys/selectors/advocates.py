"""Advocates and their referrals, for the Advocates page and Insights: who speaks for the clinic, their
testimonials, how many people they referred, and how many of those reached the commitment consult."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo

from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.db.models.functions import TruncDate

from accounts.queries import counts_at_once
from patients.models import AdvocateLink, Patient, Testimonial
from patients.selectors import advocates

from ..models import Inquiry, Journey, Stage, StageChange

ADVOCATES_SHOWN = 100


def _reached_commitment():
    return Exists(StageChange.objects.filter(journey__patient_id=OuterRef("pk"), to_stage=Stage.COMMITMENT))


@dataclass
class AdvocateRow:
    patient: Patient
    referrals: int
    committed: int = 0
    has_link: bool = False
    testimonials: list[Testimonial] = field(default_factory=list)

    @property
    def shown_testimonials(self) -> list[Testimonial]:
        return [t for t in self.testimonials if t.shown]


def advocate_rows(*, limit: int = ADVOCATES_SHOWN) -> list[AdvocateRow]:
    """Advocates, most referrals first, with their testimonials (shown and withdrawn), whether they have a
    referral link, and how many of the people they referred reached commitment. Five queries (six with few
    referrers)."""
    patients = advocates(limit=limit)
    if not patients:
        return []
    ids = [p.pk for p in patients]
    committed = dict(
        Patient.objects.filter(referred_by_id__in=ids)
        .filter(_reached_commitment())
        .order_by()
        .values("referred_by_id")
        .annotate(n=Count("pk"))
        .values_list("referred_by_id", "n")
    )
    testimonials: dict[int, list[Testimonial]] = defaultdict(list)
    for testimonial in Testimonial.objects.filter(patient_id__in=ids).order_by("-consented_at", "-id"):
        testimonials[testimonial.patient_id].append(testimonial)
    linked = set(AdvocateLink.objects.filter(patient_id__in=ids).values_list("patient_id", flat=True))
    return [
        AdvocateRow(
            patient=p,
            referrals=getattr(p, "referral_count", 0),
            committed=committed.get(p.pk, 0),
            has_link=p.pk in linked,
            testimonials=testimonials.get(p.pk, []),
        )
        for p in patients
    ]


@dataclass(frozen=True)
class AdvocacyFigures:
    advocates: int  # journeys at the advocate stage now
    testimonials_shown: int
    referred_inquiries: int  # in the period, through an advocate's link
    referred_patients: int  # patients added in the period with someone recorded as referring them
    referred_committed: int  # of those, how many have reached the commitment consult


def _referred(*, since: datetime, until: datetime) -> QuerySet[Patient]:
    return Patient.objects.filter(referred_by__isnull=False, created_at__gte=since, created_at__lt=until)


def referrals_by_day(*, since: datetime, until: datetime, zone: tzinfo) -> dict[date, tuple[int, int]]:
    """Referred patients added each day (``zone``'s days) from ``since`` to ``until``, and how many of them
    have reached the commitment consult: ``{day: (patients, committed)}``, days with none left out. One
    query; the beat task keeps it for Insights (``dashboard.figures``), as a range's count grows with it."""
    return {
        day: (patients, committed)
        for day, patients, committed in _referred(since=since, until=until)
        .order_by()
        .annotate(day=TruncDate("created_at", tzinfo=zone))
        .values("day")
        .annotate(patients=Count("pk"), committed=Count("pk", filter=Q(_reached_commitment())))
        .values_list("day", "patients", "committed")
    }


def advocacy_counts(*, since: datetime, until: datetime) -> dict[str, QuerySet]:
    """What ``advocacy_figures`` counts, by name, for a page that counts them with its own in one query
    (``accounts.queries.counts_at_once``)."""
    return {
        "advocates": Journey.objects.filter(stage=Stage.ADVOCATE),
        "testimonials_shown": Testimonial.objects.filter(withdrawn_at__isnull=True),
        "referred_inquiries": Inquiry.objects.filter(
            referred_by__isnull=False, received_at__gte=since, received_at__lt=until
        ),
    }


def advocacy_figures(
    *,
    since: datetime,
    until: datetime,
    referred: tuple[int, int] | None = None,
    counted: Mapping[str, int] | None = None,
) -> AdvocacyFigures:
    """Insights' advocacy figures: two queries, one when ``referred`` (the referred patients added in the
    period and how many of them committed) is already known, none more when ``counted`` holds
    ``advocacy_counts``' counts already taken."""
    if referred is None:
        counts = _referred(since=since, until=until).aggregate(
            patients=Count("pk"), committed=Count("pk", filter=Q(_reached_commitment()))
        )
        referred = (counts["patients"], counts["committed"])
    if counted is None:
        counted = counts_at_once(advocacy_counts(since=since, until=until))
    return AdvocacyFigures(
        advocates=counted["advocates"],
        testimonials_shown=counted["testimonials_shown"],
        referred_inquiries=counted["referred_inquiries"],
        referred_patients=referred[0],
        referred_committed=referred[1],
    )
