from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import AccessEvent
from compliance.models import Alert, ClinicSettings, CourseCorrection
from compliance.panels import alerts_panel_context
from compliance.selectors import blueprints_since
from compliance.services import course_correct
from journeys.models import Blueprint, Journey, Stage
from journeys.services.blueprints import blueprint_add_item, blueprint_publish, blueprint_start_draft
from nudges.models import Kind, Nudge
from nudges.services import nudge_schedule
from tests.compliance.conftest import week
from tests.factories import CareTeamMemberFactory, PatientFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def alert(plan, practitioner):
    journey, _ = plan
    CareTeamMemberFactory(patient=journey.patient, user=practitioner, role="lead")
    Blueprint.objects.filter(journey=journey).update(published_at=timezone.now() - timedelta(days=30))
    return Alert.objects.create(
        patient=journey.patient,
        journey=journey,
        reason=Alert.Reason.LOW_ADHERENCE,
        detail="55% over the last two check-ins",
        opened_at=timezone.now() - timedelta(minutes=5),
    )


def revise(journey, actor, reason="Magnesium upset her stomach; a gentler form."):
    """Revise the plan as the builder does: draft N+1, change it, publish it with a reason."""
    draft = blueprint_start_draft(journey=journey, actor=actor)
    blueprint_add_item(blueprint=draft, actor=actor, kind="supplement", title="Magnesium glycinate")
    return blueprint_publish(blueprint=draft, actor=actor, reason=reason)


def url(alert, action=""):
    return f"/alerts/{alert.pk}/" + (f"{action}/" if action else "")


# --- The service ----------------------------------------------------------------------------------


def test_a_course_correction_resolves_the_alert_and_links_the_new_plan_version(alert, practitioner):
    new_version = revise(alert.journey, practitioner)

    correction = course_correct(
        alert=alert,
        actor=practitioner,
        change="item_swapped",
        note="Swapped to glycinate.",
        blueprint=new_version,
    )

    alert.refresh_from_db()
    assert (correction.alert, correction.practitioner, correction.blueprint) == (
        alert,
        practitioner,
        new_version,
    )
    assert new_version.version == 2 and new_version.status == "published"
    assert alert.resolved_by == practitioner and alert.resolved_at is not None
    assert alert.resolution == "Item swapped: Swapped to glycinate.\nPlan revised to version 2."


def test_a_course_correction_is_audited(alert, practitioner):
    correction = course_correct(alert=alert, actor=practitioner, change="call_booked", note="Call on Friday.")

    event = AccessEvent.objects.get(object_type__model="coursecorrection", object_id=str(correction.pk))
    assert (event.action, event.actor, event.patient_id) == ("create", practitioner, alert.patient_id)
    assert "alert resolved" in event.detail and "Friday" not in event.detail


def test_staff_cannot_record_a_course_correction(alert, staff):
    with pytest.raises(PermissionDenied, match="Only practitioners and admins record course corrections"):
        course_correct(alert=alert, actor=staff, change="other", note="Rang her.")
    assert not CourseCorrection.objects.exists()


def test_an_admin_may_record_a_course_correction(alert, admin_user):
    course_correct(alert=alert, actor=admin_user, change="simplified", note="Fewer items.")
    alert.refresh_from_db()
    assert not alert.is_open


@pytest.mark.parametrize(
    ("change", "note", "field"), [("dose_adjusted", "  ", "note"), ("shouted", "Told her off.", "change")]
)
def test_a_correction_needs_a_known_change_and_a_note(alert, practitioner, change, note, field):
    with pytest.raises(ValidationError) as refused:
        course_correct(alert=alert, actor=practitioner, change=change, note=note)
    assert field in refused.value.message_dict
    alert.refresh_from_db()
    assert alert.is_open and not CourseCorrection.objects.exists()


def test_only_a_version_of_this_journey_published_since_the_alert_opened_may_be_linked(alert, practitioner):
    first_version = Blueprint.objects.get(journey=alert.journey, version=1)
    other = Journey.objects.create(patient=PatientFactory(), stage=Stage.CHECK_INS)
    elsewhere = revise(other, practitioner, reason="")

    for blueprint in (first_version, elsewhere):
        with pytest.raises(ValidationError) as refused:
            course_correct(alert=alert, actor=practitioner, change="other", note="x", blueprint=blueprint)
        assert "blueprint" in refused.value.message_dict


def test_an_answered_alert_takes_no_second_answer(alert, practitioner):
    course_correct(alert=alert, actor=practitioner, change="simplified", note="Fewer items.")

    with pytest.raises(ValidationError, match="already answered"):
        course_correct(alert=alert, actor=practitioner, change="other", note="Again.")


def test_a_step_may_be_recorded_without_closing_the_alert(alert, practitioner):
    course_correct(alert=alert, actor=practitioner, change="call_booked", note="Call Friday.", resolve=False)
    course_correct(alert=alert, actor=practitioner, change="simplified", note="Two items paused.")

    alert.refresh_from_db()
    assert not alert.is_open
    assert list(alert.corrections.values_list("change", flat=True)) == ["simplified", "call_booked"]


def test_an_outreach_still_waiting_is_withdrawn_once_the_practitioner_has_answered(alert, practitioner):
    nudge = nudge_schedule(
        patient=alert.patient,
        kind=Kind.ADHERENCE_OUTREACH,
        send_at=timezone.now() + timedelta(hours=8),
        dedupe_key=f"alert:{alert.pk}:outreach",
    )
    Alert.objects.filter(pk=alert.pk).update(outreach_nudge=nudge)
    alert.refresh_from_db()

    course_correct(alert=alert, actor=practitioner, change="call_booked", note="Called her.")

    nudge.refresh_from_db()
    assert nudge.status == Nudge.Status.CANCELLED


def test_the_versions_offered_are_those_published_since_the_alert_opened(alert, practitioner):
    assert list(blueprints_since(alert)) == []
    new_version = revise(alert.journey, practitioner)
    assert list(blueprints_since(alert)) == [new_version]


# --- The pages ------------------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["", "correct", "revise"])
def test_anonymous_visitors_are_sent_to_sign_in(client, alert, action):
    sign_in = reverse("accounts:login")
    response = client.post(url(alert, action)) if action else client.get(url(alert))
    assert response.status_code == 302 and response["Location"].startswith(sign_in)
    response = client.get("/alerts/")
    assert response.status_code == 302 and response["Location"].startswith(sign_in)
    assert not CourseCorrection.objects.exists() and not Blueprint.objects.filter(status="draft").exists()


@pytest.mark.parametrize("role", ["staff", "practitioner", "admin_user"])
def test_everyone_on_the_team_sees_the_open_alerts(request, client_for, alert, role):
    page = client_for(request.getfixturevalue(role)).get("/alerts/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "Renée Côté" in body and "55% over the last two check-ins" in body and "Dr. Bob Moss" in body


def test_staff_see_an_alert_but_get_no_correction_form(client_for, staff, alert):
    page = client_for(staff).get(url(alert))
    assert page.status_code == 200
    body = page.content.decode()
    assert "55% over the last two check-ins" in body
    assert 'id="correction-form"' not in body and "Practitioners and admins record course corrections" in body


@pytest.mark.parametrize("action", ["correct", "revise"])
def test_staff_are_refused_when_they_post_a_correction_or_a_revision(client_for, staff, alert, action):
    response = client_for(staff).post(url(alert, action), {"change": "other", "note": "Rang her."})
    assert response.status_code == 403
    alert.refresh_from_db()
    assert alert.is_open and not Blueprint.objects.filter(status="draft").exists()


def test_reading_an_alert_is_audited(client_for, staff, alert):
    client_for(staff).get(url(alert))
    assert AccessEvent.objects.filter(
        action="view", actor=staff, patient_id=alert.patient_id, object_type__model="alert"
    ).exists()


def test_a_practitioner_closes_the_loop_from_the_alert(client_for, practitioner, alert):
    """From the alert: open a revision, publish it in the builder, record the correction, which resolves it."""
    client = client_for(practitioner)
    page = client.get(url(alert)).content.decode()
    assert 'id="correction-form"' in page and "Open a revision in the builder" in page

    response = client.post(url(alert, "revise"))
    assert response.status_code == 302
    assert response["Location"] == (
        f"/journeys/{alert.journey_id}/blueprint/?return_to=%2Falerts%2F{alert.pk}%2F#draft"
    )
    draft = Blueprint.objects.get(journey=alert.journey, status="draft")
    blueprint_add_item(blueprint=draft, actor=practitioner, kind="supplement", title="Magnesium glycinate")
    blueprint_publish(blueprint=draft, actor=practitioner, reason="A gentler magnesium.")

    page = client.get(url(alert)).content.decode()
    assert "Version 2, published" in page
    response = client.post(
        url(alert, "correct"),
        {"change": "item_swapped", "note": "Glycinate instead.", "blueprint": draft.pk, "resolve": "on"},
    )

    assert response.status_code == 302 and response["Location"] == url(alert)
    alert.refresh_from_db()
    correction = alert.corrections.get()
    assert (correction.blueprint_id, correction.practitioner) == (draft.pk, practitioner)
    assert not alert.is_open and alert.resolved_by == practitioner
    page = client.get(url(alert)).content.decode()
    assert "Glycinate instead." in page and 'id="correction-form"' not in page


def test_opening_a_revision_when_a_draft_exists_goes_to_that_draft(client_for, practitioner, alert):
    blueprint_start_draft(journey=alert.journey, actor=practitioner)
    client = client_for(practitioner)
    assert "Continue the draft (version 2)" in client.get(url(alert)).content.decode()

    response = client.post(url(alert, "revise"))

    assert response["Location"].endswith(f"/blueprint/?return_to=%2Falerts%2F{alert.pk}%2F#draft")
    assert Blueprint.objects.filter(journey=alert.journey).count() == 2


def test_a_correction_without_a_note_is_refused_with_a_message_and_changes_nothing(
    client_for, practitioner, alert
):
    response = client_for(practitioner).post(url(alert, "correct"), {"change": "simplified", "note": " "})

    assert response.status_code == 422
    assert "Say what changed and why" in response.content.decode()
    alert.refresh_from_db()
    assert alert.is_open and not CourseCorrection.objects.exists()


def test_the_alerts_list_shows_recently_answered_alerts(client_for, staff, practitioner, alert):
    course_correct(alert=alert, actor=practitioner, change="call_booked", note="Called.")
    body = client_for(staff).get("/alerts/").content.decode()
    assert "No open alerts" in body and "Recently answered" in body


# --- The patient page's panel ---------------------------------------------------------------------


@pytest.mark.parametrize(("role", "reads_notes"), [("staff", False), ("practitioner", True)])
def test_the_panel_lists_open_alerts_and_the_correction_history_in_two_queries(
    request, alert, practitioner, role, reads_notes, django_assert_num_queries
):
    course_correct(alert=alert, actor=practitioner, change="call_booked", note="Call Friday.", resolve=False)
    user = request.getfixturevalue(role)
    http_request = RequestFactory().get("/")
    http_request.user = user

    with django_assert_num_queries(2):
        context = alerts_panel_context(http_request, alert.patient)
        html = render_to_string(
            "compliance/_alerts_panel.html", {"panel": context, "patient": alert.patient, "user": user}
        )

    assert context["open_alerts"] == [alert] and context["can_correct"] is reads_notes
    assert "55% over the last two check-ins" in html and "Call booked" in html
    assert ("Call Friday." in html) is reads_notes


def test_staff_see_that_a_correction_was_made_but_not_what_it_says(client_for, staff, practitioner, alert):
    course_correct(alert=alert, actor=practitioner, change="dose_adjusted", note="Halved the magnesium.")

    body = client_for(staff).get(url(alert)).content.decode()

    assert "Dose adjusted" in body and "Dr. Bob Moss" in body
    assert "Halved the magnesium" not in body


# --- Admin ----------------------------------------------------------------------------------------


def test_clinic_settings_are_one_row_that_cannot_be_added_again_or_deleted(client_for, admin_user):
    client = client_for(admin_user)

    response = client.get("/admin/compliance/clinicsettings/")

    row = ClinicSettings.load()
    assert response.status_code == 302 and response["Location"].endswith(f"/clinicsettings/{row.pk}/change/")
    assert client.get(response["Location"]).status_code == 200
    assert client.get("/admin/compliance/clinicsettings/add/").status_code == 403
    assert (
        client.post(f"/admin/compliance/clinicsettings/{row.pk}/delete/", {"post": "yes"}).status_code == 403
    )


def test_clinic_settings_are_one_row_made_by_migration_and_read_without_writing(django_assert_num_queries):
    with django_assert_num_queries(1):
        row = ClinicSettings.load()
    assert row.pk == 1 and not row._state.adding  # compliance migration 0002 made it

    ClinicSettings.objects.all().delete()
    with django_assert_num_queries(1):
        defaults = ClinicSettings.load()
    assert (defaults.pk, defaults.adherence_threshold, defaults.amend_hours) == (1, 70, 24)
    assert not ClinicSettings.objects.exists()


def test_clinic_settings_are_read_by_the_orms_sql_compiled_once_and_every_change_is_seen():
    ClinicSettings.load()  # compiled
    ClinicSettings.objects.filter(pk=1).update(adherence_threshold=61)
    with CaptureQueriesContext(connection) as ours:
        assert ClinicSettings.load().adherence_threshold == 61
    with CaptureQueriesContext(connection) as orms:
        ClinicSettings.objects.filter(pk=1).first()
    assert ours.captured_queries[0]["sql"] == orms.captured_queries[0]["sql"]
    ClinicSettings.objects.filter(pk=1).update(adherence_threshold=62)
    assert ClinicSettings.load().adherence_threshold == 62


def test_a_missing_clinic_settings_row_is_made_again_from_the_admin(client_for, admin_user):
    ClinicSettings.objects.all().delete()
    client = client_for(admin_user)

    response = client.get("/admin/compliance/clinicsettings/")

    assert response.status_code == 302 and response["Location"].endswith("/clinicsettings/add/")
    data = {
        "adherence_threshold": 60,
        "low_margin_points": 20,
        "min_reports": 6,
        "missed_in_a_row": 2,
        "answer_wait_days": "",
        "drop_points": 25,
        "hard_week_points": 50,
        "outreach_every_days": 14,
        "window_days": 28,
        "amend_hours": 24,
    }
    assert client.post(response["Location"], data).status_code == 302
    assert ClinicSettings.load().adherence_threshold == 60
    assert ClinicSettings.objects.get().pk == 1


@pytest.mark.parametrize("model", ["alert", "coursecorrection", "checkinanswer", "compliancelog"])
def test_the_compliance_admin_pages_load_and_change_nothing(
    client_for, admin_user, practitioner, alert, model
):
    course_correct(alert=alert, actor=practitioner, change="call_booked", note="Called.")
    client = client_for(admin_user)

    assert client.get(f"/admin/compliance/{model}/").status_code == 200
    assert client.get(f"/admin/compliance/{model}/?q=cote").status_code == 200
    assert client.get(f"/admin/compliance/{model}/add/").status_code == 403
    if model in ("alert", "coursecorrection"):
        pk = alert.pk if model == "alert" else alert.corrections.get().pk
        assert client.get(f"/admin/compliance/{model}/{pk}/change/").status_code == 200
        assert client.post(f"/admin/compliance/{model}/{pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.get("/admin/compliance/alert/?open=yes&reason=low_adherence").status_code == 200


# --- The alert page a practitioner acts from ----------------------------------------------------------


def test_the_alert_page_shows_the_chart_the_answers_words_and_the_outreach_sent(
    client_for, practitioner, staff, alert
):
    journey = alert.journey
    today = timezone.localdate()
    checkin = week(journey, today - timedelta(days=3), ["missed", "partial", "done"])
    answer = checkin.answer
    answer.where_it_failed = "Work travel all week, no kitchen."
    answer.barriers = ["side_effects"]
    answer.save()
    sent = nudge_schedule(
        patient=journey.patient,
        kind=Kind.ADHERENCE_OUTREACH,
        send_at=timezone.now() - timedelta(minutes=4),
        dedupe_key=f"outreach:{alert.pk}",
    )
    Nudge.objects.filter(pk=sent.pk).update(status="sent", sent_at=timezone.now() - timedelta(minutes=4))
    Nudge.objects.create(
        patient=journey.patient,
        kind=Kind.CHECKIN_MISSED,
        channel="email",
        send_at=timezone.now() - timedelta(days=2),
        status="suppressed",
        status_reason="weekly limit: this patient already had their automated messages for the week",
        dedupe_key="missed:1",
    )

    page = client_for(practitioner).get(url(alert)).content.decode()

    assert 'id="evidence-chart"' in page and "<svg" in page
    assert "Work travel all week, no kitchen." in page
    assert "Side effects" in page
    assert "Adherence outreach by Email" in page and "sent" in page
    assert "weekly limit" in page
    staff_page = client_for(staff).get(url(alert)).content.decode()
    assert "Work travel all week" not in staff_page, "a patient's own words are for clinical roles only"
    assert 'id="evidence-outreach"' in staff_page


def test_a_revision_started_from_the_alert_returns_to_it_and_one_click_resolves_it(
    client_for, practitioner, alert
):
    client = client_for(practitioner)
    builder = client.post(url(alert, "revise"))["Location"]
    page = client.get(builder).content.decode()
    assert 'id="return-to"' in page and f'href="/alerts/{alert.pk}/"' in page

    journey = alert.journey
    client.post(
        f"/journeys/{journey.pk}/blueprint/items/add/",
        {"kind": "supplement", "title": "Magnesium glycinate"},
    )
    published = client.post(
        f"/journeys/{journey.pk}/blueprint/publish/", {"reason": "One supplement instead of three."}
    )
    assert published.status_code == 302 and published["Location"] == url(alert)
    version = Blueprint.objects.get(journey=journey, version=2)
    assert version.status == "published"

    page = client.get(url(alert)).content.decode()
    assert 'id="published-from-alert"' in page
    assert "One supplement instead of three." in page
    # The one click: the form as the page fills it in.
    response = client.post(
        url(alert, "correct"),
        {"change": "simplified", "note": "One supplement instead of three.", "blueprint": version.pk,
         "resolve": "on"},
    )  # fmt: skip
    assert response["Location"] == url(alert)
    alert.refresh_from_db()
    assert not alert.is_open
    assert alert.corrections.get().blueprint == version
    assert "Plan revised to version 2." in alert.resolution
