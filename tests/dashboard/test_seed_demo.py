import re
import stat
from collections import Counter
from datetime import UTC, datetime, timedelta
from io import StringIO
from itertools import pairwise

import phonenumbers
import pytest
import time_machine
from allauth.mfa.models import Authenticator
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import transaction
from django.db.models import Count, Q
from django.test.utils import override_settings
from django.utils import timezone

from accounts.models import AccessEvent
from compliance.detection import reports_side_effect
from compliance.models import Alert, CheckInAnswer, ClinicSettings, ComplianceLog, CourseCorrection
from compliance.selectors import recent_answered_score
from dashboard.demo import demo_data
from journeys.models import (
    OFF_PATH,
    PATH,
    Blueprint,
    BlueprintItem,
    CheckIn,
    Inquiry,
    Journey,
    Program,
    QuestionnaireResponse,
    Stage,
    StageChange,
    Visit,
    VisitNote,
    WorkingHours,
)
from journeys.selectors.pipeline import pipeline_board
from journeys.services.visits import visit_hours_warning
from nudges.models import Kind as NudgeKind
from nudges.models import Nudge
from patients.models import CareTeamMember, ConsentEvent, Patient, fold

FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DEMO_PASSWORD = "demo-pass-123"
DEMO_PATIENTS = demo_data().patients
JOURNEYS = {person.legal_name: person.journey for person in DEMO_PATIENTS}
# The demo is laid out around the clinic's today and its weekdays; these tests read it on one fixed day (a
# Tuesday, noon in New York) so that what they assert does not move with the day CI runs on.
DEMO_NOW = datetime(2026, 12, 1, 17, 0, tzinfo=UTC)


def run(command, *args):
    out = StringIO()
    call_command(command, *args, stdout=out)
    return out.getvalue()


@pytest.fixture(scope="module")
def sign_ins_folder(tmp_path_factory):
    """Where this module's setup_demo keeps the demo sign-ins (never the developer's own var/)."""
    return tmp_path_factory.mktemp("var")


@pytest.fixture(scope="module")
def clinic(django_db_setup, django_db_blocker, sign_ins_folder):
    """The demo clinic as `make run` loads it (``setup_demo``, with DEMO_PASSWORD set), once for the module.

    It is loaded inside a transaction that is rolled back after the module's last test; each test still
    runs in its own savepoint inside it (the ``db`` fixture), so whatever a test writes is rolled back
    before the next. Tests that load the demo again, or need an empty database, are in
    ``test_seed_demo_runs.py``.
    """
    with (
        django_db_blocker.unblock(),
        pytest.MonkeyPatch.context() as patch,
        override_settings(PASSWORD_HASHERS=FAST_HASHERS, VAR_DIR=sign_ins_folder),
        time_machine.travel(DEMO_NOW, tick=True),
    ):
        patch.setenv("DEMO_PASSWORD", DEMO_PASSWORD)
        with transaction.atomic():
            yield run("setup_demo")
            transaction.set_rollback(True)


@pytest.fixture
def seeded(clinic, db):
    """The demo clinic; the output of the command that loaded it."""
    return clinic


class TestTheDemoPatients:
    def test_it_loads_about_forty_patients(self, seeded):
        assert 35 <= Patient.objects.count() <= 45
        assert "Demo clinic loaded" in seeded

    def test_every_patient_has_exactly_one_current_lead(self, seeded):
        leads = Patient.objects.annotate(
            leads=Count("care_team", filter=Q(care_team__role="lead", care_team__ended_at__isnull=True))
        )
        assert sorted({p.leads for p in leads}) == [1]

    def test_leads_are_spread_across_the_practitioners(self, seeded):
        by_lead = Counter(Patient.objects.with_lead().values_list("lead_name", flat=True))
        assert len(by_lead) >= 2
        assert max(by_lead.values()) - min(by_lead.values()) <= 3
        assert "Lena Hart (health coach)" not in by_lead

    def test_a_changed_lead_leaves_the_previous_one_on_the_team(self, seeded):
        ended_leads = CareTeamMember.objects.filter(role="lead", ended_at__isnull=False)
        assert ended_leads.exists()
        for old in ended_leads:
            assert (
                CareTeamMember.objects.current()
                .filter(patient=old.patient, user=old.user, role="practitioner")
                .exists()
            )

    def test_patients_live_in_at_least_five_time_zones(self, seeded):
        zones = set(Patient.objects.values_list("time_zone", flat=True))
        assert len(zones) >= 5
        assert {"America/New_York", "America/Phoenix", "Pacific/Honolulu", "Europe/London"} <= zones

    def test_some_names_carry_accents_and_are_found_without_them(self, seeded):
        accented = [p for p in Patient.objects.all() if fold(p.legal_name) != p.legal_name.casefold()]
        assert len(accented) >= 5
        assert [p.legal_name for p in Patient.objects.matching("jose nunez")] == ["José Núñez"]
        assert [p.legal_name for p in Patient.objects.matching("zoe angstrom")] == ["Zoë Ångström"]

    def test_every_phone_is_a_valid_number_in_international_form(self, seeded):
        phones = list(Patient.objects.exclude(phone="").values_list("phone", flat=True))
        assert len(phones) >= 30
        assert len(set(phones)) == len(phones)
        for phone in phones:
            number = phonenumbers.parse(phone, None)
            assert phonenumbers.is_valid_number(number), phone
            assert phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164) == phone

    def test_email_addresses_are_ascii_on_reserved_domains(self, seeded):
        for email in Patient.objects.values_list("email", flat=True):
            assert email.isascii()
            assert email.rsplit("@", 1)[1] in {"example.com", "example.net", "example.org"}

    def test_consent_varies_from_patient_to_patient(self, seeded):
        patients = list(Patient.objects.with_consent())
        email = {p.pk for p in patients if p.email_consent_granted}
        sms = {p.pk for p in patients if p.sms_consent_granted}
        assert email - sms, "someone consents to email only"
        assert sms - email, "someone consents to SMS only"
        assert email & sms, "someone consents to both"
        assert {p.pk for p in patients} - email - sms, "someone has given no consent"
        assert ConsentEvent.objects.filter(granted=False).exists(), "someone took consent back"
        assert Patient.objects.filter(unsubscribed_at__isnull=False).exists()

    def test_sms_is_only_preferred_by_patients_who_can_be_texted(self, seeded):
        for patient in Patient.objects.with_consent().filter(preferred_channel="sms"):
            assert patient.phone
            assert patient.sms_consent_granted

    def test_referrals_point_at_an_earlier_demo_patient(self, seeded):
        referred = Patient.objects.filter(source="referral")
        assert referred.count() >= 3
        for patient in referred:
            assert patient.referred_by_id is not None
            assert patient.referred_by_id < patient.pk
        assert {"website", "event", "social"} <= set(Patient.objects.values_list("source", flat=True))

    def test_care_teams_include_a_health_coach_and_external_specialists(self, seeded):
        current = CareTeamMember.objects.current()
        assert current.filter(role="health_coach", user__username="coach.lena").exists()
        assert current.filter(role="specialist", user__isnull=True).exclude(external_name="").exists()

    def test_a_couple_are_archived_and_a_few_keep_their_own_quiet_hours(self, seeded):
        assert 1 <= Patient.objects.filter(archived=True).count() <= 3
        custom = Patient.objects.exclude(quiet_hours_start="20:00", quiet_hours_end="08:00")
        assert 2 <= custom.count() <= 6

    def test_dates_of_birth_are_those_of_adults(self, seeded):
        years = set(Patient.objects.values_list("date_of_birth__year", flat=True))
        assert min(years) >= 1945
        assert max(years) <= 2003

    def test_every_patient_was_created_through_the_services(self, seeded):
        created = AccessEvent.objects.filter(action="create").values_list("patient_id", flat=True)
        assert set(created) == set(Patient.objects.values_list("pk", flat=True))

    def test_running_it_again_with_if_empty_adds_nothing(self, seeded):
        before = counts()
        out = run("seed_demo", "--if-empty")
        assert counts() == before
        assert "left as it is" in out


class TestTheLivingClinic:
    def test_every_stage_on_and_off_the_path_has_a_journey(self, seeded):
        stages = Counter(Journey.objects.values_list("stage", flat=True))
        for stage in [*PATH, *OFF_PATH]:
            assert stages[stage] >= 1, stage
        assert stages[Stage.CHECK_INS] >= 5
        assert sum(stages.values()) == Patient.objects.count()

    def test_every_patient_has_one_journey_and_at_most_one_open(self, seeded):
        per_patient = Patient.objects.annotate(
            journeys_count=Count("journeys"),
            open_count=Count("journeys", filter=Q(journeys__ended_at__isnull=True)),
        )
        assert {p.journeys_count for p in per_patient} == {1}
        assert {p.open_count for p in per_patient} <= {0, 1}
        closed = Journey.objects.filter(ended_at__isnull=False).values_list("stage", flat=True)
        assert set(closed) == {Stage.GRADUATED, Stage.ADVOCATE, Stage.DECLINED, Stage.WITHDRAWN}

    def test_each_history_is_in_the_past_in_order_and_ends_where_the_journey_stands(self, seeded):
        now = timezone.now()
        for journey in Journey.objects.prefetch_related("stage_changes"):
            changes = sorted(journey.stage_changes.all(), key=lambda c: (c.at, c.pk))
            assert changes[0].from_stage == "" and changes[0].to_stage == Stage.INQUIRY
            assert [c.from_stage for c in changes[1:]] == [c.to_stage for c in changes[:-1]]
            assert all(earlier.at < later.at for earlier, later in pairwise(changes))
            assert changes[-1].to_stage == journey.stage
            assert journey.stage_entered_at == changes[-1].at < now
            assert journey.started_at == changes[0].at

    def test_stays_are_believable_on_the_pipeline(self, seeded):
        board = pipeline_board()
        medians = {column.stage: column.median_days for column in board.columns}
        assert 3 <= medians[Stage.DISCOVERY] <= 12
        assert 7 <= medians[Stage.INTAKE] <= 16
        assert 8 * 7 <= medians[Stage.CHECK_INS] <= 12 * 7 + 6
        for column in board.columns[:-1]:
            assert 0 < column.conversion < 1, column.stage
        assert sum(board.recent_exits.values()) >= 2
        assert max(j.days_in_stage for j in Journey.objects.filter(stage=Stage.CHECK_INS)) >= 40

    def test_leaving_the_path_records_why(self, seeded):
        exits = StageChange.objects.filter(to_stage__in=OFF_PATH)
        assert exits.count() >= 6
        for change in exits:
            assert change.reason
            assert len(change.note) > 20

    def test_the_programs_and_a_template_exist_and_journeys_use_them(self, seeded):
        foundations = Program.objects.get(name="Foundations — 12 weeks")
        gut = Program.objects.get(name="Gut Restore — 8 weeks")
        assert (foundations.weeks, foundations.checkin_every_days, foundations.fee) == (12, 7, 3600)
        assert (gut.weeks, gut.checkin_every_days, gut.fee) == (8, 7, 2400)
        assert foundations.journeys.exists() and gut.journeys.exists()
        assert Journey.objects.filter(stage=Stage.INQUIRY, program__isnull=True).exists()

    def test_inquiry_stage_patients_wrote_in(self, seeded):
        for journey in Journey.objects.filter(stage=Stage.INQUIRY):
            inquiry = journey.inquiries.get()
            assert inquiry.patient_id == journey.patient_id
            assert inquiry.message
            assert inquiry.received_at == journey.started_at
        assert Inquiry.objects.count() >= 4

    def test_past_visits_happened_with_practitioners_and_upcoming_ones_have_pending_reminders(self, seeded):
        now = timezone.now()
        past = Visit.objects.exclude(status=Visit.Status.SCHEDULED)
        assert past.filter(status=Visit.Status.COMPLETED).count() >= 30
        assert past.filter(status=Visit.Status.NO_SHOW).exists()
        assert all(v.ends_at < now and v.practitioner.role == "practitioner" for v in past)
        assert {Visit.Kind.DISCOVERY, Visit.Kind.INTAKE, Visit.Kind.COMMITMENT} <= set(
            past.values_list("kind", flat=True)
        )
        upcoming = Visit.objects.filter(status=Visit.Status.SCHEDULED)
        assert upcoming.count() >= 5
        for visit in upcoming:
            assert now < visit.starts_at < now + timedelta(days=15)
            reminders = Nudge.objects.filter(
                dedupe_key__startswith=f"visit:{visit.pk}:",
                kind="visit_reminder",
                status=Nudge.Status.PENDING,
            )
            assert reminders.exists(), visit

    def test_practitioners_have_working_hours_and_the_upcoming_visits_fall_in_them(self, seeded):
        practitioners = get_user_model().objects.filter(role="practitioner", is_active=True)
        assert practitioners.exists()
        for practitioner in practitioners:
            assert WorkingHours.objects.filter(practitioner=practitioner).count() == 10  # 2 a weekday
        for visit in Visit.objects.filter(status=Visit.Status.SCHEDULED).select_related("practitioner"):
            assert not visit_hours_warning(
                practitioner=visit.practitioner,
                starts_at=visit.starts_at,
                duration_minutes=visit.duration_minutes,
            ), visit

    def test_a_patient_with_an_intake_booked_has_their_questionnaire_link_waiting_for_the_worker(
        self, seeded
    ):
        """``make run``'s worker sends it at once, so var/mail holds a link that opens the form on a phone."""
        booked = Visit.objects.filter(kind=Visit.Kind.INTAKE, status=Visit.Status.SCHEDULED)
        links = Nudge.objects.filter(
            kind=NudgeKind.INTAKE_QUESTIONNAIRE,
            status=Nudge.Status.PENDING,
            channel="email",
            patient__in=booked.values("patient"),
            send_at__lte=timezone.now(),
        )
        assert links.exists()
        response = QuestionnaireResponse.objects.get(patient=links.first().patient, status="sent")
        assert response.visit in booked and response.closes_at == response.visit.starts_at

    def test_signed_intake_notes_tell_the_story_in_four_sections(self, seeded):
        intake_notes = VisitNote.objects.filter(visit__kind=Visit.Kind.INTAKE, addendum_to__isnull=True)
        signed = [note for note in intake_notes if note.is_signed]
        assert len(signed) >= 10
        for note in signed:
            assert set(note.sections) == set(VisitNote.INTAKE_SECTIONS)
            assert all(len(text) > 40 for text in note.sections.values())
            assert not any("{" in text for text in note.sections.values()), "placeholders are filled in"
            assert note.visit.ends_at <= note.signed_at < timezone.now()
        assert intake_notes.filter(signed_at__isnull=True).exists(), "a note still being written"
        addenda = VisitNote.objects.filter(addendum_to__isnull=False)
        assert addenda.count() >= 2
        assert all(a.addendum_to.is_signed and a.signed_at > a.addendum_to.signed_at for a in addenda)

    def test_plans_are_published_with_items_and_some_revised_with_a_reason(self, seeded):
        published = Blueprint.objects.filter(status=Blueprint.Status.PUBLISHED)
        for blueprint in published:
            assert blueprint.items.exists()
            assert blueprint.published_at < timezone.now()
        reached_plan = Journey.objects.filter(
            stage__in=[Stage.CHECK_INS, Stage.GRADUATED, Stage.ADVOCATE]
        ).exclude(blueprints__status=Blueprint.Status.PUBLISHED)
        assert not reached_plan.exists(), "everyone past the blueprint stage holds a published plan"
        revised = published.filter(version=2)
        assert revised.count() >= 2
        for blueprint in revised:
            assert blueprint.revision_reason
            first = blueprint.journey.blueprints.get(version=1)
            assert first.status == Blueprint.Status.SUPERSEDED
            assert first.published_at < blueprint.published_at
        assert Blueprint.objects.filter(status=Blueprint.Status.DRAFT).exists()

    def test_check_ins_patients_have_check_ins_and_pending_requests(self, seeded):
        journeys = Journey.objects.filter(stage=Stage.CHECK_INS)
        assert journeys.count() >= 5
        for journey in journeys:
            assert journey.checkins.exists()
            pending = Nudge.objects.filter(
                patient=journey.patient, kind="checkin_request", status=Nudge.Status.PENDING
            )
            assert pending.exists(), journey
            for checkin in journey.checkins.filter(
                status=CheckIn.Status.SCHEDULED, request_nudge__isnull=False, due_on__gt=timezone.localdate()
            ):
                assert checkin.request_nudge.send_at > timezone.now()
        answered = CheckIn.objects.filter(status=CheckIn.Status.ANSWERED)
        assert answered.count() >= 20
        assert all(c.answered_at is not None and c.answered_at <= c.closes_at for c in answered)
        assert CheckIn.objects.filter(status=CheckIn.Status.MISSED).count() >= 3
        assert not CheckIn.objects.filter(status=CheckIn.Status.MISSED, closes_at__gt=timezone.now()).exists()

    def test_check_ins_open_now_are_asked_now_so_the_mail_folder_has_links(self, seeded):
        open_now = CheckIn.objects.filter(
            status=CheckIn.Status.SCHEDULED, closes_at__gt=timezone.now(), due_on__lt=timezone.localdate()
        )
        for checkin in open_now.select_related("request_nudge"):
            assert checkin.request_nudge is not None, checkin
            assert "/c/" in checkin.request_nudge.context["checkin_url"]

    def test_the_summary_counts_journeys_by_stage(self, seeded):
        assert "by stage" in seeded
        for stage in [*PATH, *OFF_PATH]:
            assert Stage(stage).label in seeded

    def test_the_pipeline_and_patient_pages_render_for_signed_in_staff(self, seeded, client):
        coordinator = get_user_model().objects.get(username="coordinator")
        client.force_login(coordinator)
        response = client.get("/pipeline/")
        assert response.status_code == 200
        assert "Check-ins" in response.content.decode()
        patient = Journey.objects.filter(stage=Stage.CHECK_INS).order_by("pk").first().patient
        assert client.get(f"/patients/{patient.pk}/").status_code == 200

    def test_a_practitioner_sees_a_patient_with_their_whole_history(self, seeded, client):
        journey = Journey.objects.filter(stage=Stage.CHECK_INS, blueprints__version=2).order_by("pk").first()
        lead = journey.patient.care_team.get(role="lead", ended_at__isnull=True).user
        client.force_login(lead)
        assert client.get(f"/patients/{journey.patient.pk}/").status_code == 200

    # --- the patients' answers, and the alerts they led to ---

    def test_every_answered_check_in_holds_the_patients_answer_item_by_item(self, seeded):
        answered = list(
            CheckIn.objects.filter(status=CheckIn.Status.ANSWERED)
            .select_related("answer", "journey")
            .prefetch_related("answer__logs__item__blueprint")
        )
        assert len(answered) >= 20
        for checkin in answered:
            answer = checkin.answer
            assert answer.patient_id == checkin.journey.patient_id
            assert answer.answered_at == checkin.answered_at
            logs = list(answer.logs.all())
            assert logs, checkin
            assert {log.checkin_id for log in logs} == {checkin.pk}
            assert len({log.item_id for log in logs}) == len(logs)
            for log in logs:  # about the plan the patient held when they answered
                blueprint = log.item.blueprint
                assert blueprint.journey_id == checkin.journey_id
                assert blueprint.published_at <= answer.answered_at
                assert not blueprint.journey.blueprints.filter(
                    version__gt=blueprint.version, published_at__lte=answer.answered_at
                ).exists(), checkin
                if log.status == ComplianceLog.Status.PAUSED:
                    assert log.paused_reason
        assert not CheckInAnswer.objects.exclude(checkin__status=CheckIn.Status.ANSWERED).exists()
        assert CheckInAnswer.objects.count() == len(answered)

    def test_answers_read_like_real_weeks(self, seeded):
        statuses = Counter(ComplianceLog.objects.values_list("status", flat=True))
        total = sum(statuses.values())
        assert 0.6 <= statuses["done"] / total <= 0.9, statuses
        assert statuses["done"] > statuses["partial"] > statuses["missed"] > 0
        assert statuses["paused"] >= 3
        answers = CheckInAnswer.objects.all()
        words = set(answers.exclude(where_it_failed="").values_list("where_it_failed", flat=True))
        assert "Travelled for work, the powders didn't fit in my bag." in words
        assert len(words) >= 10
        assert 0.25 <= answers.exclude(where_it_failed="").count() / answers.count() <= 0.75
        assert answers.exclude(barriers=[]).count() >= 10
        assert answers.filter(barriers=[]).exists(), "plenty of weeks nothing got in the way"
        assert not answers.filter(energy__isnull=True).exists()
        assert answers.filter(digestion__isnull=True).exists(), "a rating skipped now and then"
        by_phone = answers.filter(via=CheckInAnswer.Via.PHONE)
        assert by_phone.exists() and not by_phone.filter(entered_by__isnull=True).exists()
        assert answers.filter(amended_at__isnull=False).exists(), "someone changed an answer"
        # A plan item the care team paused is reported as paused by everyone who answered since.
        paused_item = BlueprintItem.objects.get(status=BlueprintItem.Status.PAUSED)
        since = ComplianceLog.objects.filter(
            item=paused_item, answer__answered_at__gt=paused_item.status_changed_at
        )
        assert since.exists() and set(since.values_list("status", flat=True)) == {"paused"}

    def test_the_open_alerts_are_the_patients_meant_to_falter_one_each_with_every_reason(self, seeded):
        everyone = Alert.objects.filter(resolved_at__isnull=True).select_related("patient", "outreach_nudge")
        assert everyone.values("patient").distinct().count() == everyone.count(), "one open alert per patient"
        assert {a.journey.stage for a in everyone} == {Stage.CHECK_INS}
        meant = {
            name for name, plan in JOURNEYS.items() if plan.struggling or plan.faltering or plan.side_effect
        }
        assert {a.patient.legal_name for a in everyone} == meant, "only those meant to falter do"
        by_reason = Counter(reason for alert in everyone for reason in alert.reason_values)
        assert set(by_reason) == set(Alert.Reason.values), "every reason is on the alerts page"

    def test_two_patients_who_answered_poorly_lately_are_well_under_the_line(self, seeded):
        rules = ClinicSettings.load()
        low = [
            a
            for a in Alert.objects.filter(resolved_at__isnull=True)
            if Alert.Reason.LOW_ADHERENCE in a.reason_values
        ]
        assert {a.patient.legal_name for a in low} == {n for n, plan in JOURNEYS.items() if plan.struggling}
        assert len(low) == 2
        for alert in low:
            score, answered = recent_answered_score(patient_id=alert.patient_id)
            assert answered == 2 and score < rules.adherence_threshold - rules.low_margin_points
            [row] = [row for row in alert.reasons if row["reason"] == Alert.Reason.LOW_ADHERENCE]
            assert row["detail"] == f"{score:g}% over the last two check-ins"
            outreach = alert.outreach_nudge
            # Their hard week was told in words, so the alert opened that day and its outreach went (or
            # was held back with its reason) then, not a week later.
            assert outreach.kind == "adherence_outreach"
            assert outreach.status in (Nudge.Status.SENT, Nudge.Status.SUPPRESSED), outreach.status

    def test_silence_is_alerted_and_a_patient_silent_after_the_follow_up_is_to_be_called(self, seeded):
        missed = [
            a
            for a in Alert.objects.filter(resolved_at__isnull=True)
            if Alert.Reason.MISSED_CHECKINS in a.reason_values
        ]
        faltering = {name for name, plan in JOURNEYS.items() if plan.faltering}
        escalated = {name for name, plan in JOURNEYS.items() if plan.escalated}
        assert {a.patient.legal_name for a in missed} == faltering
        assert escalated and escalated < faltering, "one called, one still written to"
        for alert in missed:
            last = alert.journey.checkins.exclude(status=CheckIn.Status.SCHEDULED).order_by("-due_on").first()
            assert last.status == CheckIn.Status.MISSED, "the latest check-in closed unanswered"
            # The warm note is the missed check-in's own gentle follow-up, not a second message.
            assert alert.outreach_nudge.kind == "checkin_missed"
            if alert.patient.legal_name in escalated:
                assert alert.escalated_at is not None
                assert alert.outreach_nudge.sent_at < last.closes_at <= alert.escalated_at
            else:
                assert alert.escalated_at is None
                assert alert.outreach_nudge.dedupe_key == f"checkin:{last.pk}:missed"

    def test_a_side_effect_in_the_patients_words_alerted_the_lead_when_they_answered(self, seeded):
        told = {name for name, plan in JOURNEYS.items() if plan.side_effect}
        alerts = [
            a
            for a in Alert.objects.filter(resolved_at__isnull=True).select_related("answer")
            if Alert.Reason.SIDE_EFFECT in a.reason_values
        ]
        assert {a.patient.legal_name for a in alerts} == told
        for alert in alerts:
            latest = CheckInAnswer.objects.filter(patient=alert.patient).order_by("-answered_at").first()
            assert alert.answer == latest
            assert reports_side_effect(barriers=[], words=latest.where_it_failed), "in their own words"
            assert alert.opened_at == latest.answered_at, "heard at answer time, not at the next run"
            assert alert.outreach_nudge is None, "a side effect is for the practitioner, not a warm note"
        others = [
            a for a in CheckInAnswer.objects.select_related("patient") if a.patient.legal_name not in told
        ]
        assert others and not [a for a in others if "side_effects" in a.barriers], (
            "no ordinary week names one"
        )

    def test_one_alert_was_answered_by_a_course_correction_linking_version_2(self, seeded):
        alert = Alert.objects.get(resolved_at__isnull=False)
        correction = CourseCorrection.objects.get()
        assert correction.alert == alert and correction.practitioner == alert.resolved_by
        revised = correction.blueprint
        assert (revised.version, revised.status) == (2, Blueprint.Status.PUBLISHED)
        assert revised.revision_reason
        assert alert.opened_at < revised.published_at <= correction.created_at == alert.resolved_at
        assert alert.resolved_at < timezone.now()
        assert "Plan revised to version 2." in alert.resolution
        first = revised.journey.blueprints.get(version=1)
        assert first.status == Blueprint.Status.SUPERSEDED
        # The weeks before the correction were hard and about version 1; the weeks since, about version 2.
        answers = CheckInAnswer.objects.filter(patient=alert.patient).prefetch_related("logs__item")
        before = [a for a in answers if a.answered_at < alert.opened_at]
        after = [a for a in answers if a.answered_at > alert.resolved_at]
        assert len(before) == 2 and after
        assert {log.item.blueprint_id for a in before for log in a.logs.all()} == {first.pk}
        assert {log.item.blueprint_id for a in after for log in a.logs.all()} == {revised.pk}
        assert not Alert.objects.filter(patient=alert.patient, resolved_at__isnull=True).exists()

    def test_the_alerts_page_and_today_show_the_open_alerts(self, seeded, client):
        client.force_login(get_user_model().objects.get(username="coordinator"))
        open_alerts = Alert.objects.filter(resolved_at__isnull=True).select_related("patient")
        alerts_page = client.get("/alerts/").content.decode()
        today = client.get("/").content.decode()
        for alert in open_alerts:
            assert f'id="alert-{alert.pk}"' in alerts_page
            assert alert.patient.display_name in today
        assert f"Open ({open_alerts.count()})" in alerts_page
        assert "Call the patient" in alerts_page and "Call the patient" in today
        answered = Alert.objects.get(resolved_at__isnull=False)
        assert answered.patient.display_name in alerts_page  # among the recently answered

    def test_the_adherence_panel_shows_a_demo_patients_answers_and_charts(self, seeded, client):
        [alert, *_] = [
            a
            for a in Alert.objects.filter(resolved_at__isnull=True)
            if Alert.Reason.LOW_ADHERENCE in a.reason_values
        ]
        patient = alert.patient
        client.force_login(patient.care_team.get(role="lead", ended_at__isnull=True).user)
        page = client.get(f"/patients/{patient.pk}/").content.decode()
        assert 'id="adherence-summary"' in page
        for chart in ("adherence-weekly", "adherence-heatmap"):
            assert re.search(rf'<figure class="mb-3" id="{chart}">\s*<svg [^>]*role="img"', page), chart
        assert "Under the clinic's" in page
        latest = CheckInAnswer.objects.filter(patient=patient).order_by("-answered_at").first()
        assert latest.where_it_failed and latest.where_it_failed.replace("'", "&#x27;") in page
        assert f'id="answer-{latest.pk}"' in page

    def test_the_summary_counts_answers_and_alerts(self, seeded):
        answers = CheckInAnswer.objects.count()
        assert f"answers           {answers} (" in seeded
        assert f"alerts            {Alert.objects.filter(resolved_at__isnull=True).count()} open" in seeded
        assert "1 answered by a course correction" in seeded


class TestHistoryLivedOnTheClock:
    """The demo's past was made at the moments it happened, through the services, not dated back."""

    def test_the_audit_trail_reads_in_time_order_and_nothing_is_dated_in_the_future(self, seeded):
        now = timezone.now()
        moments = list(AccessEvent.objects.order_by("pk").values_list("at", flat=True))
        assert all(earlier <= later for earlier, later in pairwise(moments))
        assert moments[-1] <= now
        for model, field in [
            (Patient, "created_at"),
            (StageChange, "at"),
            (VisitNote, "created_at"),
            (Blueprint, "published_at"),
            (CheckInAnswer, "answered_at"),
            (Alert, "opened_at"),
            (CourseCorrection, "created_at"),
            (Nudge, "sent_at"),
        ]:
            assert not model.objects.filter(**{f"{field}__gt": now}).exists(), model

    def test_each_patient_was_created_when_their_journey_began(self, seeded):
        for journey in Journey.objects.select_related("patient"):
            assert journey.patient.created_at == journey.started_at

    def test_the_outbox_sent_history_when_it_fell_due_and_left_the_last_two_days_to_the_worker(self, seeded):
        now = timezone.now()
        sent = Nudge.objects.filter(status=Nudge.Status.SENT)
        assert sent.filter(kind="checkin_request").count() >= 20
        for nudge in sent:
            assert nudge.send_at <= nudge.sent_at < now
            assert nudge.body_text, "the outbox keeps the words it sent"
        assert not Nudge.objects.filter(
            status=Nudge.Status.PENDING, send_at__lt=now - timedelta(days=2)
        ).exists()
        assert Nudge.objects.filter(status=Nudge.Status.SUPPRESSED).exists(), "consent is honoured in history"

    def test_a_patient_answers_by_link_only_when_the_request_reached_them(self, seeded):
        by_link = CheckInAnswer.objects.filter(via=CheckInAnswer.Via.LINK)
        assert by_link.count() >= 50
        assert not by_link.exclude(checkin__request_nudge__status=Nudge.Status.SENT).exists()
        rang = CheckInAnswer.objects.filter(via=CheckInAnswer.Via.PHONE).exclude(
            checkin__request_nudge__status=Nudge.Status.SENT
        )
        assert rang.exists(), "a request held back for consent is answered by phone"

    def test_insights_show_data_in_every_chart_on_a_fresh_demo(self, seeded, client):
        client.force_login(get_user_model().objects.get(username="frontdesk"))
        response = client.get("/insights/")
        data, body = response.context["insights"], response.content.decode()
        assert data.responses.sent >= 10 and data.responses.answered >= 5
        assert all(rate.sent for rate in data.responses.by_channel), "email and SMS both went out"
        assert len(data.responses.by_hour) >= 2
        assert len(data.barriers) >= 3
        assert data.funnel[0].entered and data.funnel[0].conversion is not None
        assert sum(week.score is not None for week in data.weekly) >= 3
        assert data.adherence.score is not None and data.responses.median_to_answer is not None
        for empty in (
            "No check-in requests yet",
            "No barriers named",
            "No journey moved",
            "No plan items reported",
        ):
            assert empty not in body, empty

    def test_past_visits_left_no_reminders_behind(self, seeded):
        for visit in Visit.objects.exclude(status=Visit.Status.SCHEDULED):
            assert not Nudge.objects.filter(dedupe_key__startswith=f"visit:{visit.pk}:").exists(), visit


def test_every_demo_patient_has_a_journey_planned():
    names = [f"{person.first_name} {person.last_name}" for person in DEMO_PATIENTS]
    assert sorted(JOURNEYS) == sorted(names)
    archived = {f"{p.first_name} {p.last_name}" for p in DEMO_PATIENTS if p.archived}
    assert all(JOURNEYS[name].stage in OFF_PATH - {Stage.PAUSED} for name in archived), (
        "archived: journey over"
    )


def test_new_colleagues_get_the_demo_password_when_one_is_set(seeded):
    okafor = get_user_model().objects.get(username="dr.okafor")
    assert okafor.check_password(DEMO_PASSWORD)
    assert okafor.role == "practitioner"


def test_setup_demo_creates_users_once_and_shows_their_password_once(seeded, settings, monkeypatch):
    settings.PASSWORD_HASHERS = FAST_HASHERS
    monkeypatch.setenv("DEMO_PASSWORD", DEMO_PASSWORD)
    first = seeded  # the clinic was loaded by setup_demo, into an empty database
    users = set(get_user_model().objects.values_list("username", flat=True))
    patients = Patient.objects.count()

    second = run("setup_demo")

    assert {"admin", "dr.rivera", "frontdesk", "dr.okafor", "coordinator"} <= users
    assert set(get_user_model().objects.values_list("username", flat=True)) == users
    assert Patient.objects.count() == patients >= 35
    assert "demo-pass-123" in first and "Demo sign-ins" in first
    assert "demo-pass-123" not in second and "Demo sign-ins" not in second
    assert "left as they are" in second
    assert first.count("authenticator key ") == 3 and first.count("otpauth://totp/") == 3
    assert "authenticator key" not in second
    assert Authenticator.objects.filter(user__username="frontdesk", type="totp").exists()
    assert Patient.objects.with_lead().filter(lead_name="Dr. Maya Rivera").exists()


def test_the_demo_sign_ins_are_kept_for_the_owner_alone_and_shown_again(seeded, settings, sign_ins_folder):
    settings.VAR_DIR = sign_ins_folder
    kept = sign_ins_folder / "demo-sign-ins.txt"

    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    text = kept.read_text()
    assert (
        "demo-pass-123" in text
        and text.count("authenticator key ") == 3
        and text.count("otpauth://totp/") == 3
    )
    assert all(line in seeded for line in text.splitlines())  # what was printed, word for word
    again = run("demo_sign_ins")
    assert again.strip() == text.strip()
    assert "python manage.py demo_sign_ins" in again


def test_without_sign_ins_on_file_it_says_so(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    assert "No demo sign-ins on file" in run("demo_sign_ins")


def counts():
    return (
        Patient.objects.count(),
        get_user_model().objects.count(),
        ConsentEvent.objects.count(),
        CareTeamMember.objects.count(),
        AccessEvent.objects.count(),
        Journey.objects.count(),
        StageChange.objects.count(),
        Visit.objects.count(),
        VisitNote.objects.count(),
        Blueprint.objects.count(),
        CheckIn.objects.count(),
        Inquiry.objects.count(),
        Nudge.objects.count(),
        Program.objects.count(),
    )
