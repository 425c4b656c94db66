from collections import Counter
from io import StringIO

import phonenumbers
import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db.models import Count, Q

from alliance_crm.accounts.models import AccessEvent
from patients.models import CareTeamMember, ConsentEvent, Patient, fold

FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


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


@pytest.fixture
def seeded(db, monkeypatch):
    monkeypatch.delenv("DEMO_PASSWORD", raising=False)
    return run("seed_demo", "--if-empty")


def test_it_loads_about_forty_patients(seeded):
    assert 35 <= Patient.objects.count() <= 45
    assert "Demo clinic loaded" in seeded


def test_every_patient_has_exactly_one_current_lead(seeded):
    leads = Patient.objects.annotate(
        leads=Count("care_team", filter=Q(care_team__role="lead", care_team__ended_at__isnull=True))
    )
    assert sorted({p.leads for p in leads}) == [1]


def test_leads_are_spread_across_the_practitioners(seeded):
    by_lead = Counter(Patient.objects.with_lead().values_list("lead_name", flat=True))
    assert len(by_lead) >= 2
    assert max(by_lead.values()) - min(by_lead.values()) <= 3
    assert "Lena Hart (health coach)" not in by_lead


def test_a_changed_lead_leaves_the_previous_one_on_the_team(seeded):
    ended_leads = CareTeamMember.objects.filter(role="lead", ended_at__isnull=False)
    assert ended_leads.exists()
    for old in ended_leads:
        assert (
            CareTeamMember.objects.current()
            .filter(patient=old.patient, user=old.user, role="practitioner")
            .exists()
        )


def test_patients_live_in_at_least_five_time_zones(seeded):
    zones = set(Patient.objects.values_list("time_zone", flat=True))
    assert len(zones) >= 5
    assert {"America/New_York", "America/Phoenix", "Pacific/Honolulu", "Europe/London"} <= zones


def test_some_names_carry_accents_and_are_found_without_them(seeded):
    accented = [p for p in Patient.objects.all() if fold(p.legal_name) != p.legal_name.casefold()]
    assert len(accented) >= 5
    assert [p.legal_name for p in Patient.objects.matching("jose nunez")] == ["José Núñez"]
    assert [p.legal_name for p in Patient.objects.matching("zoe angstrom")] == ["Zoë Ångström"]


def test_every_phone_is_a_valid_number_in_international_form(seeded):
    phones = list(Patient.objects.exclude(phone="").values_list("phone", flat=True))
    assert len(phones) >= 30
    assert len(set(phones)) == len(phones)
    for phone in phones:
        number = phonenumbers.parse(phone, None)
        assert phonenumbers.is_valid_number(number), phone
        assert phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164) == phone


def test_email_addresses_are_ascii_on_reserved_domains(seeded):
    for email in Patient.objects.values_list("email", flat=True):
        assert email.isascii()
        assert email.rsplit("@", 1)[1] in {"example.com", "example.net", "example.org"}


def test_consent_varies_from_patient_to_patient(seeded):
    patients = list(Patient.objects.with_consent())
    email = {p.pk for p in patients if p.email_consent_granted}
    sms = {p.pk for p in patients if p.sms_consent_granted}
    assert email - sms, "someone consents to email only"
    assert sms - email, "someone consents to SMS only"
    assert email & sms, "someone consents to both"
    assert {p.pk for p in patients} - email - sms, "someone has given no consent"
    assert ConsentEvent.objects.filter(granted=False).exists(), "someone took consent back"
    assert Patient.objects.filter(unsubscribed_at__isnull=False).exists()


def test_sms_is_only_preferred_by_patients_who_can_be_texted(seeded):
    for patient in Patient.objects.with_consent().filter(preferred_channel="sms"):
        assert patient.phone
        assert patient.sms_consent_granted


def test_referrals_point_at_an_earlier_demo_patient(seeded):
    referred = Patient.objects.filter(source="referral")
    assert referred.count() >= 3
    for patient in referred:
        assert patient.referred_by_id is not None
        assert patient.referred_by_id < patient.pk
    assert {"website", "event", "social"} <= set(Patient.objects.values_list("source", flat=True))


def test_care_teams_include_a_health_coach_and_external_specialists(seeded):
    current = CareTeamMember.objects.current()
    assert current.filter(role="health_coach", user__username="coach.lena").exists()
    assert current.filter(role="specialist", user__isnull=True).exclude(external_name="").exists()


def test_a_couple_are_archived_and_a_few_keep_their_own_quiet_hours(seeded):
    assert 1 <= Patient.objects.filter(archived=True).count() <= 3
    custom = Patient.objects.exclude(quiet_hours_start="20:00", quiet_hours_end="08:00")
    assert 2 <= custom.count() <= 6


def test_dates_of_birth_are_those_of_adults(seeded):
    years = set(Patient.objects.values_list("date_of_birth__year", flat=True))
    assert min(years) >= 1945
    assert max(years) <= 2003


def test_every_patient_was_created_through_the_services(seeded):
    created = AccessEvent.objects.filter(action="create").values_list("patient_id", flat=True)
    assert set(created) == set(Patient.objects.values_list("pk", flat=True))


def test_running_it_again_with_if_empty_adds_nothing(seeded):
    before = counts()
    out = run("seed_demo", "--if-empty")
    assert counts() == before
    assert "left as it is" in out


def test_the_demo_is_the_same_on_every_run(seeded):
    last_of_first_run = Patient.objects.order_by("pk").last().pk
    users = get_user_model().objects.count()

    run("seed_demo")  # without --if-empty: a second clinic's worth, next to the first

    first = snapshot(Patient.objects.filter(pk__lte=last_of_first_run))
    assert snapshot(Patient.objects.filter(pk__gt=last_of_first_run)) == first
    assert get_user_model().objects.count() == users, "colleagues are only created once"


def test_a_dry_run_keeps_nothing(db, monkeypatch):
    monkeypatch.delenv("DEMO_PASSWORD", raising=False)
    out = run("seed_demo", "--dry-run")
    assert "dry run" in out
    assert not Patient.objects.exists()
    assert not get_user_model().objects.exists()


def test_new_colleagues_cannot_sign_in_until_given_a_password(seeded):
    added = get_user_model().objects.filter(
        username__in=["dr.okafor", "dr.natarajan", "coach.lena", "coordinator"]
    )
    assert added.count() == 4
    assert not any(user.has_usable_password() for user in added)
    assert "an admin sets one" in seeded


def test_new_colleagues_get_the_demo_password_when_one_is_set(db, settings, monkeypatch):
    settings.PASSWORD_HASHERS = FAST_HASHERS
    monkeypatch.setenv("DEMO_PASSWORD", "demo-pass-123")
    run("seed_demo")
    okafor = get_user_model().objects.get(username="dr.okafor")
    assert okafor.check_password("demo-pass-123")
    assert okafor.role == "practitioner"


def test_setup_demo_creates_users_once_and_shows_their_password_once(db, settings, monkeypatch):
    settings.PASSWORD_HASHERS = FAST_HASHERS
    monkeypatch.setenv("DEMO_PASSWORD", "demo-pass-123")
    first = run("setup_demo")
    users = set(get_user_model().objects.values_list("username", flat=True))
    patients = Patient.objects.count()

    second = run("setup_demo")

    assert {"admin", "dr.rivera", "frontdesk", "dr.okafor", "coordinator"} <= users
    assert set(get_user_model().objects.values_list("username", flat=True)) == users
    assert Patient.objects.count() == patients >= 35
    assert "demo-pass-123" in first and "Demo sign-ins" in first
    assert "demo-pass-123" not in second and "Demo sign-ins" not in second
    assert "left as they are" in second
    assert Patient.objects.with_lead().filter(lead_name="Dr. Maya Rivera").exists()


def counts():
    return (
        Patient.objects.count(),
        get_user_model().objects.count(),
        ConsentEvent.objects.count(),
        CareTeamMember.objects.count(),
        AccessEvent.objects.count(),
    )
