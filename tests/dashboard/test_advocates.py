"""Advocates: testimonials with their own, withdrawable consent; the Advocates page with referrals and how many
referred reached commitment; Insights' advocacy figures."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import AccessEvent
from journeys.models import Stage
from journeys.selectors.advocates import advocacy_figures, advocate_rows
from journeys.services.stages import journey_move, journey_start
from patients.models import MarketingConsentEvent
from patients.models import Testimonial as PatientTestimonial  # "Test…" would be collected by pytest
from patients.selectors import advocates, marketing_consent_granted
from patients.services import testimonial_record as record_testimonial
from tests.factories import PatientFactory
from tests.support.patient_page import tab_url

pytestmark = pytest.mark.django_db

WORDS = "For the first time someone asked what my week was really like."


def referred_to(advocate, actor, *, committed: bool):
    patient = PatientFactory(referred_by=advocate)
    journey = journey_start(patient=patient, actor=actor)
    if committed:
        for stage in (Stage.DISCOVERY, Stage.INTAKE, Stage.COMMITMENT):
            journey_move(journey=journey, to_stage=stage, actor=actor)
    return patient


def test_a_testimonial_is_kept_with_where_it_may_be_shown_and_can_be_withdrawn(client_for, staff):
    patient = PatientFactory()
    client = client_for(staff)
    response = client.post(
        reverse("patients:testimonial_add", args=[patient.pk]),
        {"words": WORDS, "places": ["website", "print"], "show_name": "Hannah K."},
    )
    assert response.status_code == 302
    testimonial = PatientTestimonial.objects.get(patient=patient)
    assert (testimonial.words, testimonial.places, testimonial.shown) == (WORDS, ["website", "print"], True)
    body = client.get(tab_url(patient, "journey")).content.decode()
    assert "The clinic&#x27;s website, Printed leaflets in the clinic" in body

    client.post(reverse("patients:testimonial_withdraw", args=[patient.pk, testimonial.pk]))
    testimonial.refresh_from_db()
    assert testimonial.withdrawn_at is not None and testimonial.withdrawn_by == staff
    assert "Consent withdrawn" in client.get(tab_url(patient, "journey")).content.decode()
    assert AccessEvent.objects.filter(detail="consent to show the testimonial withdrawn").count() == 1


def test_a_testimonial_without_a_place_or_words_is_refused_and_nothing_is_kept(client_for, staff):
    patient = PatientFactory()
    client = client_for(staff)
    client.post(reverse("patients:testimonial_add", args=[patient.pk]), {"words": WORDS})
    client.post(reverse("patients:testimonial_add", args=[patient.pk]), {"words": " ", "places": ["website"]})
    client.post(
        reverse("patients:testimonial_add", args=[patient.pk]), {"words": WORDS, "places": ["billboard"]}
    )
    assert not PatientTestimonial.objects.exists()


def test_another_patients_testimonial_is_refused_with_404(client_for, staff):
    mine, theirs = PatientFactory(), PatientFactory()
    testimonial = record_testimonial(patient=theirs, words=WORDS, places=["website"], actor=staff)
    response = client_for(staff).post(
        reverse("patients:testimonial_withdraw", args=[mine.pk, testimonial.pk])
    )
    assert response.status_code == 404
    testimonial.refresh_from_db()
    assert testimonial.shown


def test_marketing_consent_is_its_own_consent_granted_and_withdrawn_from_the_page(client_for, staff):
    patient = PatientFactory()
    client = client_for(staff)
    assert not marketing_consent_granted(patient)
    client.post(
        reverse("patients:marketing_consent", args=[patient.pk]), {"granted": "yes", "via": "in person"}
    )
    assert marketing_consent_granted(patient)
    client.post(reverse("patients:marketing_consent", args=[patient.pk]), {"granted": "no"})
    assert not marketing_consent_granted(patient)
    assert MarketingConsentEvent.objects.filter(patient=patient).count() == 2
    assert not patient.consent_events.exists()  # consent to care messages is untouched


def test_the_advocates_page_lists_testimonials_referrals_and_who_reached_commitment(
    client_for, staff, practitioner
):
    advocate = PatientFactory(first_name="Hannah", last_name="Kim")
    record_testimonial(patient=advocate, words=WORDS, places=["website"], actor=staff)
    referred_to(advocate, practitioner, committed=True)
    referred_to(advocate, practitioner, committed=False)
    quiet = PatientFactory()
    withdrawn = record_testimonial(patient=quiet, words="Kept private now", places=["social"], actor=staff)
    withdrawn.withdrawn_at = timezone.now()
    withdrawn.save()

    rows = {row.patient.pk: row for row in advocate_rows()}
    assert (rows[advocate.pk].referrals, rows[advocate.pk].committed) == (2, 1)
    assert rows[quiet.pk].shown_testimonials == []

    response = client_for(staff).get(reverse("dashboard:advocates"))
    body = response.content.decode()
    row = body[body.index(f'id="advocate-{advocate.pk}"') :]
    assert WORDS in row
    assert "Kept private now" not in body
    assert (
        AccessEvent.objects.filter(action="list", object_repr="advocates").get().patient_ids[0] == advocate.pk
    )


def test_advocates_are_most_referrals_first_then_by_name_and_then_those_who_only_spoke(staff):
    def referrer(last_name: str, referrals: int):
        patient = PatientFactory(first_name="A", last_name=last_name)
        for _ in range(referrals):
            PatientFactory(referred_by=patient)
        return patient

    most, tied_b, tied_a, one = (
        referrer("Most", 3),
        referrer("Bell", 2),
        referrer("Abbott", 2),
        referrer("One", 1),
    )
    spoke = PatientFactory(first_name="A", last_name="Zed")
    record_testimonial(patient=spoke, words=WORDS, places=["website"], actor=staff)
    earlier = PatientFactory(first_name="A", last_name="Young")
    record_testimonial(patient=earlier, words=WORDS, places=["website"], actor=staff)

    def listed(limit):
        return [(p.pk, p.referral_count) for p in advocates(limit=limit)]

    assert listed(10) == [
        (most.pk, 3),
        (tied_a.pk, 2),
        (tied_b.pk, 2),
        (one.pk, 1),
        (earlier.pk, 0),
        (spoke.pk, 0),
    ]
    # The cut falls inside a tie: the tie is broken by name, not by who was read first.
    assert listed(2) == [(most.pk, 3), (tied_a.pk, 2)]
    assert listed(5) == [(most.pk, 3), (tied_a.pk, 2), (tied_b.pk, 2), (one.pk, 1), (earlier.pk, 0)]
    # Every referral is counted by COUNT(*) grouped on the referrer, which PostgreSQL reads from the referrer
    # index alone; COUNT(id) made it read every referred patient's row (16 ms against 3 at 100,000 patients).
    with CaptureQueriesContext(connection) as queries:
        listed(2)
    assert (
        'COUNT(*) AS "n" FROM "patients_patient" WHERE "patients_patient"."referred_by_id" IS NOT NULL'
        in (queries[0]["sql"])
    )


@pytest.mark.parametrize("count", [5, 50])
def test_the_advocates_page_has_a_query_budget(client_for, staff, count, django_assert_max_num_queries):
    for _ in range(count):
        advocate = PatientFactory()
        record_testimonial(patient=advocate, words=WORDS, places=["website"], actor=staff)
        PatientFactory(referred_by=advocate)
    client = client_for(staff)
    client.get(reverse("dashboard:today"))
    with django_assert_max_num_queries(16 if connection.vendor == "postgresql" else 15):
        response = client.get(reverse("dashboard:advocates"))
    assert response.content.decode().count('<tr id="advocate-') == count


def test_insights_show_advocates_and_referrals(client_for, staff, practitioner):
    advocate = PatientFactory()
    record_testimonial(patient=advocate, words=WORDS, places=["website"], actor=staff)
    referred_to(advocate, practitioner, committed=True)
    now = timezone.now()
    figures = advocacy_figures(since=now - timedelta(days=1), until=now + timedelta(days=1))
    assert (figures.testimonials_shown, figures.referred_patients, figures.referred_committed) == (1, 1, 1)
    body = client_for(staff).get(reverse("dashboard:insights")).content.decode()
    assert 'id="insights-advocacy"' in body and "Advocates and referrals" in body


def test_insights_read_the_referrals_beat_counted_and_count_them_live_once_stale(
    client_for, staff, practitioner, time_machine
):
    from datetime import UTC, date, datetime

    from django.conf import settings

    from dashboard import figures

    now = datetime(2026, 12, 1, 17, 0, tzinfo=UTC)  # noon in New York, the clinic's zone
    advocate = PatientFactory()
    # Referred patients added on 10, 20 and 30 November (two on the 20th, one committed), one added before
    # midnight New York time on the 24th (the 25th in UTC), one not referred.
    for added, committed in [
        (datetime(2026, 11, 10, 15, tzinfo=UTC), True),
        (datetime(2026, 11, 20, 15, tzinfo=UTC), True),
        (datetime(2026, 11, 20, 16, tzinfo=UTC), False),
        (datetime(2026, 11, 25, 3, tzinfo=UTC), False),
        (datetime(2026, 11, 30, 15, tzinfo=UTC), True),
    ]:
        time_machine.move_to(added, tick=False)
        referred_to(advocate, practitioner, committed=committed)
    PatientFactory()
    time_machine.move_to(now, tick=False)
    figures.figures_refresh(now=now)

    ranges = [(date(2026, 11, 1), date(2026, 12, 1)), (date(2026, 11, 20), date(2026, 11, 20)),
              (date(2026, 11, 21), date(2026, 11, 24)), (date(2026, 11, 25), date(2026, 11, 30)),
              (date(2026, 11, 11), date(2026, 11, 19))]  # fmt: skip
    expected = [(5, 3), (2, 1), (1, 0), (1, 1), (0, 0)]
    for (start, end), counts in zip(ranges, expected, strict=True):
        assert figures.referrals_stored(start=start, end=end) == counts
        since = timezone.make_aware(datetime.combine(start, datetime.min.time()))
        until = timezone.make_aware(datetime.combine(end + timedelta(days=1), datetime.min.time()))
        live = advocacy_figures(since=since, until=until)
        assert (live.referred_patients, live.referred_committed) == counts

    # Two of them commit after the count: Insights shows the first once beat counts again, and counts the
    # referrals itself once beat's count is stale.
    not_yet = list(advocate.referrals.filter(journeys__stage=Stage.INQUIRY).order_by("created_at"))
    assert len(not_yet) == 2

    def commit(patient):
        journey = patient.journeys.get()
        for stage in (Stage.DISCOVERY, Stage.INTAKE, Stage.COMMITMENT):
            journey_move(journey=journey, to_stage=stage, actor=practitioner)

    url = f"{reverse('dashboard:insights')}?start=2026-11-01&end=2026-12-01"

    def shown():
        return client_for(staff).get(url).context["insights"].advocacy.referred_committed

    commit(not_yet[0])
    assert shown() == 3  # as beat counted them
    figures.figures_refresh(now=now)
    assert shown() == 4
    commit(not_yet[1])
    time_machine.move_to(now + timedelta(seconds=2 * settings.FIGURES_REFRESH_SECONDS + 1), tick=False)
    assert figures.referrals_stored(start=date(2026, 11, 1), end=date(2026, 12, 1)) is None
    assert shown() == 5


def test_only_the_referrers_who_can_make_the_list_leave_the_database():
    """The counts read are the referrers with at least the ``limit``-th highest count, ties at the cut
    included (broken by name afterwards): at 100,000 patients a hundred or so of ~5,000, where every
    referrer's count was read into Python and ranked there."""
    from django.db import connection as db

    from patients.selectors import _contenders_sql

    referrers = {}
    for name, referrals in (("A", 5), ("B", 3), ("C", 3), ("D", 1)):
        referrers[name] = PatientFactory(last_name=name)
        for _ in range(referrals):
            PatientFactory(referred_by=referrers[name])

    def contenders(limit):
        with db.cursor() as cursor:
            cursor.execute(_contenders_sql(), [limit])
            return dict(cursor.fetchall())

    ids = {patient.pk: name for name, patient in referrers.items()}
    assert {ids[pk]: n for pk, n in contenders(1).items()} == {"A": 5}
    assert {ids[pk]: n for pk, n in contenders(2).items()} == {"A": 5, "B": 3, "C": 3}
    assert {ids[pk]: n for pk, n in contenders(3).items()} == {"A": 5, "B": 3, "C": 3}
    assert {ids[pk]: n for pk, n in contenders(10).items()} == {"A": 5, "B": 3, "C": 3, "D": 1}
    assert [(p.last_name, p.referral_count) for p in advocates(limit=2)] == [("A", 5), ("B", 3)]
