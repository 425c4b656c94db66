"""The Advocacy panel's reads compiled once per thread (``accounts.queries.Compiled``), the consent in force and
the referral link's code one row of two subqueries: what the four reads of the ORM gave, by the SQL the ORM
writes for each, for advocates with and without consent, words, a link or referrals, and nothing of one
patient left for the next."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from patients import selectors
from patients.models import AdvocateLink, MarketingConsentEvent
from patients.models import Testimonial as PatientTestimonial  # "Test…" would be collected by pytest
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db

HOSTILE = "<script>alert('x')</script> \"Quote\" & Sons"


def values(rows) -> list[dict]:
    return [{k: v for k, v in vars(row).items() if k != "_state"} for row in rows]


@pytest.fixture
def advocates():
    """One who agreed, then withdrew, then agreed again, with two testimonials, a link and three referrals;
    one who withdrew, with a link and nothing else; one with nothing."""
    now = timezone.now()
    agreed, withdrew, nobody = PatientFactory(first_name=HOSTILE), PatientFactory(), PatientFactory()
    for n, granted in enumerate((True, False, True)):
        MarketingConsentEvent.objects.create(patient=agreed, granted=granted, at=now - timedelta(days=3 - n))
    MarketingConsentEvent.objects.create(patient=withdrew, granted=True, at=now - timedelta(days=2))
    MarketingConsentEvent.objects.create(patient=withdrew, granted=False, at=now - timedelta(days=1))
    PatientTestimonial.objects.create(patient=agreed, words=HOSTILE, places=["website"], show_name=HOSTILE)
    PatientTestimonial.objects.create(
        patient=agreed, words="Kind", places=[], consented_at=now - timedelta(days=9)
    )
    AdvocateLink.objects.create(patient=agreed, code="agreedcode")
    AdvocateLink.objects.create(patient=withdrew, code="withdrewcode")
    for _ in range(3):
        PatientFactory(referred_by=agreed)
    return [agreed, withdrew, nobody]


def test_the_panel_shows_what_the_four_reads_gave(advocates):
    for patient in advocates * 2:  # the second round from the SQL compiled in the first
        shown = selectors.patient_advocacy(patient)
        assert shown.marketing_consent == selectors.marketing_consent_granted(patient)
        assert values(shown.testimonials) == values(selectors.patient_testimonials(patient))
        assert shown.referral_token == selectors.advocate_link_token(patient)
        expected = patient.referrals.order_by("-created_at", "-id")[: selectors.REFERRALS_SHOWN]
        assert values(shown.referrals) == values(expected)
    agreed, withdrew, nobody = (selectors.patient_advocacy(patient) for patient in advocates)
    assert agreed.marketing_consent and not withdrew.marketing_consent and not nobody.marketing_consent
    assert agreed.referral_token and withdrew.referral_token and nobody.referral_token == ""
    assert (len(agreed.testimonials), len(agreed.referrals), nobody.testimonials, nobody.referrals) == (
        2,
        3,
        [],
        [],
    )


def test_each_read_is_the_orms_sql_and_the_panel_runs_three(advocates):
    builds = {
        "word": selectors._advocacy_word_query,
        "testimonials": selectors._testimonials_query,
        "referrals": selectors._referrals_query,
    }
    for patient in advocates:
        for name, build in builds.items():
            with CaptureQueriesContext(connection) as ours:
                got = selectors._advocacy_reads()[name].rows(patient.pk)
            with CaptureQueriesContext(connection) as orms:
                expected = list(build(patient.pk))
            assert values(got) == values(expected) if name != "word" else got == expected
            assert [q["sql"] for q in ours.captured_queries] == [q["sql"] for q in orms.captured_queries]
        with CaptureQueriesContext(connection) as panel:
            selectors.patient_advocacy(patient)
        assert len(panel) == 3
