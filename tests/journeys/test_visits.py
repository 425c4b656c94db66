import threading
from datetime import UTC, datetime, timedelta

import icalendar
import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import connections
from django.template.loader import render_to_string
from django.test import RequestFactory

from accounts.models import AccessEvent
from journeys.models import Visit, VisitNote
from journeys.panels.visits import visits_panel_context
from journeys.services.stages import journey_start
from journeys.services.visits import (
    visit_cancel,
    visit_complete,
    visit_no_show,
    visit_reschedule,
    visit_schedule,
)
from nudges.models import Nudge, NudgeRule
from tests.factories import PatientFactory, UserFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 4, 1, 12, 0, tzinfo=UTC)  # 08:00 in the clinic (New York)
TUESDAY_10_NY = datetime(2026, 4, 14, 14, 0, tzinfo=UTC)  # 10:00 EDT, 15:00 in London


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def patient(db):
    return PatientFactory(first_name="Ana", last_name="Silva", time_zone="Europe/London")


def book(patient, practitioner, starts_at=TUESDAY_10_NY, *, kind="follow_up", minutes=None, actor=None, **kw):
    return visit_schedule(
        patient=patient,
        practitioner=practitioner,
        kind=kind,
        starts_at=starts_at,
        duration_minutes=minutes,
        actor=actor or practitioner,
        **kw,
    )


def reminders(visit, **filters):
    return list(
        Nudge.objects.filter(dedupe_key__startswith=f"visit:{visit.pk}:", **filters).order_by("send_at")
    )


# --- Booking --------------------------------------------------------------------------------------


def test_booking_uses_the_usual_length_for_the_kind_and_is_audited(patient, practitioner, staff):
    journey = journey_start(patient=patient, actor=staff)
    visit = book(patient, practitioner, kind="intake", actor=staff, location="Room 2")
    assert (visit.duration_minutes, visit.ends_at) == (60, TUESDAY_10_NY + timedelta(minutes=60))
    assert (visit.journey, visit.created_by, visit.location) == (journey, staff, "Room 2")
    event = AccessEvent.objects.get(action="create", object_repr__startswith="Intake visit on")
    assert event.actor == staff and event.patient_id == patient.pk


def test_booking_a_visit_for_each_kind_takes_its_default_length(patient, practitioner):
    for n, (kind, minutes) in enumerate(Visit.DEFAULT_MINUTES.items()):
        visit = book(patient, practitioner, TUESDAY_10_NY + timedelta(days=n), kind=kind)
        assert visit.duration_minutes == minutes


@pytest.mark.parametrize(
    ("start_offset", "minutes", "case"),
    [
        (-15, 30, "overlaps its start"),
        (15, 30, "overlaps its end"),
        (-10, 60, "contains it"),
        (5, 10, "sits inside it"),
        (0, 30, "is the same slot"),
    ],
)
def test_a_practitioner_cannot_be_double_booked(patient, practitioner, start_offset, minutes, case):
    book(patient, practitioner, minutes=30)  # 10:00–10:30 clinic time
    other = PatientFactory()
    with pytest.raises(ValidationError) as refused:
        book(other, practitioner, TUESDAY_10_NY + timedelta(minutes=start_offset), minutes=minutes)
    message = " ".join(refused.value.messages)
    assert "Dr. Bob Moss is already booked" in message, case
    assert "Tuesday 14 April at 10:00–10:30" in message, case
    assert Visit.objects.count() == 1


def test_back_to_back_visits_are_allowed(patient, practitioner):
    book(patient, practitioner, minutes=30)
    book(PatientFactory(), practitioner, TUESDAY_10_NY + timedelta(minutes=30), minutes=30)
    book(PatientFactory(), practitioner, TUESDAY_10_NY - timedelta(minutes=20), minutes=20)
    assert Visit.objects.filter(practitioner=practitioner).count() == 3


def test_another_practitioner_may_take_the_same_slot(patient, practitioner, other_practitioner):
    book(patient, practitioner)
    assert book(PatientFactory(), other_practitioner).practitioner == other_practitioner


def test_a_cancelled_or_finished_visit_does_not_block_its_slot(patient, practitioner):
    visit = book(patient, practitioner)
    visit_cancel(visit=visit, actor=practitioner)
    assert book(PatientFactory(), practitioner).status == Visit.Status.SCHEDULED


@pytest.mark.parametrize(
    "who", [{"role": "staff"}, {"role": "practitioner", "is_active": False}], ids=["staff", "inactive"]
)
def test_only_an_active_practitioner_or_admin_sees_patients(patient, staff, who):
    with pytest.raises(ValidationError, match="does not see patients"):
        book(patient, UserFactory(**who), actor=staff)


def test_an_admin_can_be_booked(patient, admin_user, staff):
    assert book(patient, admin_user, actor=staff).practitioner == admin_user


def test_booking_in_the_past_is_refused_with_a_clear_message(patient, practitioner):
    with pytest.raises(ValidationError, match="That time has passed"):
        book(patient, practitioner, NOW - timedelta(hours=1))
    assert not Visit.objects.exists()


@pytest.mark.parametrize("minutes", [4, 481])
def test_a_visit_length_out_of_range_is_refused(patient, practitioner, minutes):
    with pytest.raises(ValidationError, match="between 5 minutes and 8 hours"):
        book(patient, practitioner, minutes=minutes)


def test_an_archived_patient_cannot_be_booked(patient, practitioner):
    patient.archived = True
    patient.save()
    with pytest.raises(ValidationError, match="archived"):
        book(patient, practitioner)


@pytest.mark.django_db(transaction=True)
def test_two_people_booking_the_same_slot_at_once_make_one_visit(postgres, practitioner):
    patients = [PatientFactory(), PatientFactory()]
    start, outcomes = threading.Barrier(2), []

    def book_in_a_thread(p):
        try:
            start.wait(10)
            book(p, practitioner)
            outcomes.append("booked")
        except ValidationError:
            outcomes.append("refused")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=book_in_a_thread, args=(p,)) for p in patients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["booked", "refused"]
    assert Visit.objects.filter(practitioner=practitioner).count() == 1


# --- Reminders ------------------------------------------------------------------------------------


def test_reminders_go_a_day_and_two_hours_before_in_the_patients_own_words(patient, practitioner):
    visit = book(patient, practitioner, kind="intake")
    day, hours = reminders(visit)
    assert (day.send_at, hours.send_at) == (
        TUESDAY_10_NY - timedelta(days=1),
        TUESDAY_10_NY - timedelta(hours=2),
    )
    assert day.dedupe_key == f"visit:{visit.pk}:20260414T1400:-1440"
    assert hours.dedupe_key == f"visit:{visit.pk}:20260414T1400:-120"
    assert day.kind == "visit_reminder" and day.status == Nudge.Status.PENDING
    assert day.context == {
        "visit_kind": "intake visit",
        "visit_when": "Tuesday 14 April at 15:00",  # London, where the patient lives
        "practitioner_name": "Dr. Bob Moss",
    }


def test_reminder_moments_already_past_are_skipped(patient, practitioner):
    visit = book(patient, practitioner, NOW + timedelta(hours=5))
    assert [n.dedupe_key.rsplit(":", 1)[1] for n in reminders(visit)] == ["-120"]


def test_a_disabled_rule_schedules_no_reminder(patient, practitioner):
    NudgeRule.objects.filter(kind="visit_reminder").update(enabled=False)
    assert reminders(book(patient, practitioner)) == []


def test_the_rules_offsets_decide_when_reminders_go(patient, practitioner):
    NudgeRule.objects.filter(kind="visit_reminder").update(offsets_minutes=[-2880, -60])
    visit = book(patient, practitioner)
    assert [n.send_at for n in reminders(visit)] == [
        TUESDAY_10_NY - timedelta(days=2),
        TUESDAY_10_NY - timedelta(hours=1),
    ]


def test_cancelling_withdraws_pending_reminders_but_not_sent_ones(patient, practitioner, staff):
    visit = book(patient, practitioner)
    day, hours = reminders(visit)
    Nudge.objects.filter(pk=day.pk).update(status=Nudge.Status.SENT, sent_at=day.send_at)
    visit = visit_cancel(visit=visit, actor=staff, reason="patient asked to move it")
    day.refresh_from_db()
    hours.refresh_from_db()
    assert visit.status == Visit.Status.CANCELLED
    assert day.status == Nudge.Status.SENT
    assert (hours.status, hours.status_reason) == (Nudge.Status.CANCELLED, "visit cancelled")
    event = AccessEvent.objects.filter(action="update", object_id=str(visit.pk)).get()
    assert "patient asked to move it" in event.detail and event.actor == staff


def test_rescheduling_moves_the_reminders(patient, practitioner, staff):
    visit = book(patient, practitioner)
    later = TUESDAY_10_NY + timedelta(days=2, hours=1)
    visit = visit_reschedule(visit=visit, starts_at=later, actor=staff)
    assert visit.ends_at == later + timedelta(minutes=30)
    pending = reminders(visit, status=Nudge.Status.PENDING)
    assert [n.send_at for n in pending] == [later - timedelta(days=1), later - timedelta(hours=2)]
    assert pending[0].context["visit_when"] == "Thursday 16 April at 16:00"
    assert len(reminders(visit, status=Nudge.Status.CANCELLED)) == 2


def test_moving_back_to_the_first_time_brings_its_reminders_back(patient, practitioner):
    visit = book(patient, practitioner)
    visit = visit_reschedule(visit=visit, starts_at=TUESDAY_10_NY + timedelta(hours=3), actor=practitioner)
    visit = visit_reschedule(visit=visit, starts_at=TUESDAY_10_NY, actor=practitioner)
    pending = reminders(visit, status=Nudge.Status.PENDING)
    assert [n.send_at for n in pending] == [
        TUESDAY_10_NY - timedelta(days=1),
        TUESDAY_10_NY - timedelta(hours=2),
    ]


def test_changing_only_the_room_keeps_the_reminders(patient, practitioner):
    visit = book(patient, practitioner)
    before = [n.pk for n in reminders(visit)]
    visit_reschedule(visit=visit, starts_at=visit.starts_at, location="Room 5", actor=practitioner)
    assert [n.pk for n in reminders(visit, status=Nudge.Status.PENDING)] == before


def test_handing_a_visit_to_another_practitioner_renames_them_in_the_reminders(
    patient, practitioner, other_practitioner
):
    visit = book(patient, practitioner)
    visit_reschedule(
        visit=visit, starts_at=visit.starts_at, practitioner=other_practitioner, actor=practitioner
    )
    names = {n.context["practitioner_name"] for n in reminders(visit, status=Nudge.Status.PENDING)}
    assert names == {"Dr. Dana Lee"}


def test_rescheduling_into_a_clash_is_refused_but_overlapping_its_own_old_slot_is_fine(patient, practitioner):
    visit = book(patient, practitioner, minutes=30)
    book(PatientFactory(), practitioner, TUESDAY_10_NY + timedelta(hours=1), minutes=30)
    visit_reschedule(visit=visit, starts_at=TUESDAY_10_NY + timedelta(minutes=15), actor=practitioner)
    with pytest.raises(ValidationError, match="already booked"):
        visit_reschedule(visit=visit, starts_at=TUESDAY_10_NY + timedelta(minutes=45), actor=practitioner)
    visit.refresh_from_db()
    assert visit.starts_at == TUESDAY_10_NY + timedelta(minutes=15)


# --- Closing --------------------------------------------------------------------------------------


def test_a_visit_is_closed_only_once_it_has_begun(patient, practitioner):
    visit = book(patient, practitioner)
    with pytest.raises(ValidationError, match="once it has begun"):
        visit_complete(visit=visit, actor=practitioner)
    with time_machine.travel(TUESDAY_10_NY + timedelta(minutes=40), tick=False):
        visit = visit_complete(visit=visit, actor=practitioner)
        assert visit.status == Visit.Status.COMPLETED
        with pytest.raises(ValidationError, match="already completed"):
            visit_no_show(visit=visit, actor=practitioner)
        with pytest.raises(ValidationError, match="already completed"):
            visit_cancel(visit=visit, actor=practitioner)


def test_a_no_show_is_recorded_and_audited(patient, practitioner, staff):
    visit = book(patient, practitioner)
    with time_machine.travel(TUESDAY_10_NY + timedelta(minutes=20), tick=False):
        visit = visit_no_show(visit=visit, actor=staff)
    assert visit.status == Visit.Status.NO_SHOW
    assert AccessEvent.objects.filter(
        action="update", object_id=str(visit.pk), detail="marked no-show"
    ).exists()


# --- Calendar file --------------------------------------------------------------------------------


def ics(client, visit):
    response = client.get(f"/visits/{visit.pk}/calendar.ics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/calendar")
    return response, icalendar.Calendar.from_ical(response.content).walk("VEVENT")[0]


def test_the_calendar_file_says_when_with_whom_and_where_and_nothing_clinical(
    client_for, patient, practitioner, staff
):
    visit = book(patient, practitioner, kind="intake", location="Room 2, 12 Elm St")
    VisitNote.objects.create(
        visit=visit, author=practitioner, title="Intake", body="Decade of fatigue, fears of cancer"
    )
    response, event = ics(client_for(staff), visit)
    assert event.decoded("dtstart") == TUESDAY_10_NY
    assert event.decoded("dtend") == TUESDAY_10_NY + timedelta(minutes=60)
    assert event.decoded("dtstart").utcoffset() == timedelta(0)
    assert b"DTSTART:20260414T140000Z" in response.content
    assert str(event["uid"]) == f"visit-{visit.pk}@127.0.0.1"
    assert str(event["summary"]) == "Intake visit with Dr. Bob Moss"
    assert str(event["location"]) == "Room 2, 12 Elm St"
    assert str(event["status"]) == "CONFIRMED"
    assert b"fatigue" not in response.content and b"Intake\r\n" not in response.content
    assert b"Silva" not in response.content
    export = AccessEvent.objects.get(action="export")
    assert (export.actor, export.patient_id, export.detail) == (staff, patient.pk, "calendar file")


def test_a_changed_visit_bumps_its_sequence_and_a_cancelled_one_says_so(client_for, patient, practitioner):
    visit = book(patient, practitioner)
    client = client_for(practitioner)
    assert ics(client, visit)[1]["sequence"] == 0
    visit = visit_reschedule(visit=visit, starts_at=TUESDAY_10_NY + timedelta(hours=2), actor=practitioner)
    _, moved = ics(client, visit)
    assert moved["sequence"] == 1
    assert moved.decoded("dtstart") == TUESDAY_10_NY + timedelta(hours=2)
    visit_cancel(visit=visit, actor=practitioner)
    _, cancelled = ics(client, visit)
    assert (str(cancelled["status"]), cancelled["sequence"]) == ("CANCELLED", 2)
    assert str(cancelled["uid"]) == str(moved["uid"])


# --- Pages ----------------------------------------------------------------------------------------


@pytest.fixture
def visit(patient, practitioner):
    return book(patient, practitioner)


def urls(visit):
    return [
        f"/patients/{visit.patient_id}/visits/new/",
        f"/visits/{visit.pk}/",
        f"/visits/{visit.pk}/reschedule/",
        f"/visits/{visit.pk}/calendar.ics",
    ]


def test_anonymous_visitors_are_sent_to_sign_in(client, visit):
    for url in [*urls(visit), f"/visits/{visit.pk}/cancel/"]:
        response = client.get(url) if not url.endswith("cancel/") else client.post(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/sign-in/"), url
    visit.refresh_from_db()
    assert visit.status == Visit.Status.SCHEDULED


@pytest.mark.parametrize("role", ["staff", "practitioner", "admin_user"])
def test_every_role_can_use_the_visit_pages(request, client_for, visit, role):
    client = client_for(request.getfixturevalue(role))
    for url in urls(visit):
        assert client.get(url).status_code == 200, url


def test_booking_from_the_patient_page(client_for, staff, patient, practitioner):
    journey_start(patient=patient, actor=staff)
    response = client_for(staff).post(
        f"/patients/{patient.pk}/visits/new/",
        {
            "kind": "discovery",
            "practitioner": practitioner.pk,
            "starts_at": "2026-04-14T10:00",  # clinic time: 14:00 UTC
            "duration_minutes": "",
            "location": "Video: https://meet.example/abc",
        },
    )
    visit = Visit.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/visits/{visit.pk}/"
    assert (visit.starts_at, visit.duration_minutes, visit.kind) == (TUESDAY_10_NY, 20, "discovery")
    assert len(reminders(visit)) == 2
    page = client_for(staff).get(response["Location"])
    assert "Discovery call booked with Dr. Bob Moss on Tuesday 14 April at 10:00" in page.text
    assert "15:00 their time" in page.text


@pytest.mark.parametrize(
    ("starts_at", "message"),
    [
        ("2026-03-30T10:00", "That time has passed"),
        (
            "2026-04-14T10:15",
            "Dr. Bob Moss is already booked for a follow-up on Tuesday 14 April at 10:00–10:30",
        ),
        ("next tuesday", "That is not a date and time"),
        ("", "Choose the day and time of the visit."),
    ],
)
def test_bad_booking_input_gets_a_clear_message_and_books_nothing(
    client_for, staff, visit, practitioner, starts_at, message
):
    data = {"kind": "follow_up", "practitioner": practitioner.pk, "starts_at": starts_at}
    response = client_for(staff).post(f"/patients/{visit.patient_id}/visits/new/", data)
    assert response.status_code == 200
    assert message in response.text
    assert Visit.objects.count() == 1


def test_opening_a_visit_is_audited_and_shows_note_titles_but_never_their_text_to_staff(
    client_for, staff, visit, practitioner
):
    VisitNote.objects.create(visit=visit, author=practitioner, title="Follow-up notes", body="SECRET-BODY")
    response = client_for(staff).get(f"/visits/{visit.pk}/")
    assert "Follow-up notes" in response.text and "Not signed" in response.text
    assert "Dr. Bob Moss" in response.text
    assert "SECRET-BODY" not in response.text
    assert "/visit-notes/" not in response.text  # no link to a page they may not open
    event = AccessEvent.objects.get(action="view", object_id=str(visit.pk))
    assert (event.actor, event.patient_id) == (staff, visit.patient_id)


def test_status_actions_from_the_page(client_for, staff, visit):
    client = client_for(staff)
    response = client.post(f"/visits/{visit.pk}/complete/", follow=True)
    assert "once it has begun" in response.text
    visit.refresh_from_db()
    assert visit.status == Visit.Status.SCHEDULED
    with time_machine.travel(TUESDAY_10_NY + timedelta(minutes=5), tick=False):
        client_for(staff).post(f"/visits/{visit.pk}/complete/")  # a new clinic day: sign in again
    visit.refresh_from_db()
    assert visit.status == Visit.Status.COMPLETED


def test_cancelling_from_the_page_withdraws_reminders(client_for, staff, visit):
    response = client_for(staff).post(f"/visits/{visit.pk}/cancel/", {"reason": "flu"}, follow=True)
    assert "reminders not yet sent were withdrawn" in response.text
    assert {n.status for n in reminders(visit)} == {Nudge.Status.CANCELLED}


def test_status_actions_need_a_post(client_for, staff, visit):
    for action in ("cancel", "complete", "no-show"):
        assert client_for(staff).get(f"/visits/{visit.pk}/{action}/").status_code == 405


def test_rescheduling_from_the_page(client_for, staff, visit, other_practitioner):
    response = client_for(staff).post(
        f"/visits/{visit.pk}/reschedule/",
        {"starts_at": "2026-04-15T09:30", "duration_minutes": "45", "practitioner": other_practitioner.pk},
    )
    assert response.status_code == 302
    visit.refresh_from_db()
    assert visit.starts_at == datetime(2026, 4, 15, 13, 30, tzinfo=UTC)
    assert (visit.duration_minutes, visit.practitioner) == (45, other_practitioner)


def test_a_cancelled_visit_cannot_be_moved_from_the_page(client_for, staff, visit):
    visit_cancel(visit=visit, actor=staff)
    response = client_for(staff).get(f"/visits/{visit.pk}/reschedule/", follow=True)
    assert "can no longer be moved" in response.text


def test_user_text_is_escaped(client_for, staff, patient, practitioner):
    visit = book(patient, practitioner, location="<script>alert(1)</script>")
    response = client_for(staff).get(f"/visits/{visit.pk}/")
    assert "<script>alert(1)</script>" not in response.text
    assert "&lt;script&gt;" in response.text


def test_an_unknown_visit_is_404(client_for, staff):
    assert client_for(staff).get("/visits/999999/").status_code == 404
    assert client_for(staff).get("/visits/999999/calendar.ics").status_code == 404


# --- The patient page's panel ---------------------------------------------------------------------


def test_the_visits_panel_lists_coming_and_past_visits_in_a_fixed_number_of_queries(
    patient, practitioner, django_assert_num_queries
):
    upcoming = book(patient, practitioner)
    done = book(patient, practitioner, NOW + timedelta(minutes=10))
    with time_machine.travel(NOW + timedelta(hours=1), tick=False):
        visit_complete(visit=done, actor=practitioner)
        VisitNote.objects.create(visit=done, author=practitioner, title="n", body="b")
        request = RequestFactory().get("/")
        request.user = practitioner
        with django_assert_num_queries(2):
            context = visits_panel_context(request, patient)
        assert context["upcoming"] == [upcoming]
        assert context["recent"] == [done] and context["recent"][0].note_count == 1
        html = render_to_string(
            "journeys/_visits_panel.html", {"panel": context, "patient": patient, "user": practitioner}
        )
    assert f"/visits/{upcoming.pk}/" in html and f"/patients/{patient.pk}/visits/new/" in html
    assert "1 note" in html and "1 unsigned" in html


def test_the_visits_panel_renders_on_the_patient_page(client_for, staff, patient, practitioner):
    visit = book(patient, practitioner, kind="intake")
    response = client_for(staff).get(patient.section_url("visits"))
    assert response.status_code == 200
    assert 'id="panel-visits"' in response.text
    assert f'href="/visits/{visit.pk}/"' in response.text and "Intake visit" in response.text
    assert "15:00 their time" in response.text


def test_booking_in_the_patients_quiet_hours_warns_with_their_local_time(client_for, staff, practitioner):
    # 15:00 in New York (the clinic) is 04:00 the next morning in Tokyo, inside 20:00–08:00.
    patient = PatientFactory(first_name="Yui", last_name="Sato", time_zone="Asia/Tokyo")
    client = client_for(staff)

    form = client.get(f"/patients/{patient.pk}/visits/new/").content.decode()
    assert "Yui Sato lives in Asia/Tokyo" in form and "quiet hours are 20:00–08:00" in form

    response = client.post(
        f"/patients/{patient.pk}/visits/new/",
        {"kind": "follow_up", "practitioner": practitioner.pk, "starts_at": "2026-04-14T15:00"},
        follow=True,
    )
    page = response.content.decode()
    assert Visit.objects.filter(patient=patient).count() == 1, "a warning, not a refusal"
    assert "This visit is at Wednesday 15 April at 04:00 on Yui Sato&#x27;s own clock (Asia/Tokyo)" in page
    assert "inside their quiet hours (20:00–08:00)" in page
    assert "the reminder 2 hours before would be held back" in page


def test_booking_outside_the_patients_quiet_hours_gives_no_warning(client_for, staff, patient, practitioner):
    response = client_for(staff).post(
        f"/patients/{patient.pk}/visits/new/",
        {"kind": "follow_up", "practitioner": practitioner.pk, "starts_at": "2026-04-14T10:00"},
        follow=True,
    )
    assert "own clock" not in response.content.decode()
