"""Running the demo commands again, or into an empty database: on a small demo of five patients.

These tests are about the commands — a second run, a dry run, colleagues without a password — not
about what the demo holds (``test_seed_demo.py`` reads the whole clinic, loaded once). The five
patients between them take every path of the demo: the inquiry form, a missed discovery call, an
intake left as the journey ended (archived), a plan revised by a course correction after an alert,
an item paused and check-ins missed.
"""

from dataclasses import replace
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import transaction

from compliance.models import Alert, CheckInAnswer
from dashboard.demo import clinic as demo_clinic
from dashboard.demo import demo_data
from journeys.models import Blueprint, Journey, Program, Visit
from nudges.models import Nudge
from patients.models import Patient

SMALL_DEMO = {"Aisha Bello", "Björn Løkke", "Keoni Kahananui", "Łukasz Wójcik", "Thomas Whitfield"}


def run(command, *args):
    out = StringIO()
    call_command(command, *args, stdout=out)
    return out.getvalue()


def snapshot(patients):
    """What a person would notice of the demo: who, where, how to reach them, and who leads their care."""
    return [
        (p.legal_name, p.time_zone, p.phone, p.email, p.date_of_birth, p.lead_name, p.source, p.archived)
        for p in patients.with_lead().order_by("pk")
    ]


def journey_snapshot(patients):
    """Where each patient stands: their journey's stage, how many visits and plan versions they have."""
    return [
        (p.journeys.get().stage, p.visits.count(), Blueprint.objects.filter(journey__patient=p).count())
        for p in patients.order_by("pk")
    ]


def small(patch: pytest.MonkeyPatch) -> None:
    data = demo_data()
    patients = tuple(person for person in data.patients if person.legal_name in SMALL_DEMO)
    assert len(patients) == len(SMALL_DEMO)
    patch.setattr(demo_clinic, "demo_data", lambda: replace(data, patients=patients))


@pytest.fixture(scope="class")
def small_clinic(django_db_setup, django_db_blocker):
    """The small demo, loaded by ``seed_demo`` without DEMO_PASSWORD, once for the class (rolled back after)."""
    with django_db_blocker.unblock(), pytest.MonkeyPatch.context() as patch:
        small(patch)
        patch.delenv("DEMO_PASSWORD", raising=False)
        with transaction.atomic():
            yield run("seed_demo", "--if-empty")
            transaction.set_rollback(True)


@pytest.fixture
def seeded(small_clinic, db):
    return small_clinic


class TestRunningItAgain:
    def test_the_demo_is_the_same_on_every_run(self, seeded, monkeypatch):
        small(monkeypatch)
        last_of_first_run = Patient.objects.order_by("pk").last().pk
        users = get_user_model().objects.count()

        run("seed_demo")  # without --if-empty: a second clinic's worth, next to the first

        first = snapshot(Patient.objects.filter(pk__lte=last_of_first_run))
        assert snapshot(Patient.objects.filter(pk__gt=last_of_first_run)) == first
        first_journeys = journey_snapshot(Patient.objects.filter(pk__lte=last_of_first_run))
        assert journey_snapshot(Patient.objects.filter(pk__gt=last_of_first_run)) == first_journeys
        assert Program.objects.count() == 2, "programs are only created once"
        assert get_user_model().objects.count() == users, "colleagues are only created once"

    def test_new_colleagues_cannot_sign_in_until_given_a_password(self, seeded):
        added = get_user_model().objects.filter(
            username__in=["dr.okafor", "dr.natarajan", "coach.lena", "coordinator"]
        )
        assert added.count() == 4
        assert not any(user.has_usable_password() for user in added)
        assert "an admin sets one" in seeded


def test_a_dry_run_keeps_nothing(db, monkeypatch, mailoutbox, django_capture_on_commit_callbacks):
    small(monkeypatch)
    monkeypatch.delenv("DEMO_PASSWORD", raising=False)
    with django_capture_on_commit_callbacks() as queued:
        out = run("seed_demo", "--dry-run")
    assert "dry run" in out and "by stage" in out
    assert "would open" in out
    assert mailoutbox == [] and queued == [], "falter detection only counts: no email, no outreach queued"
    assert not Alert.objects.exists() and not CheckInAnswer.objects.exists()
    assert not Patient.objects.exists()
    assert not get_user_model().objects.exists()
    assert not Journey.objects.exists() and not Program.objects.exists()
    assert not Nudge.objects.exists() and not Visit.objects.exists()
