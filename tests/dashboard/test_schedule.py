"""The schedule: day and week views, free slots that are never taken, booking from a slot through the visit
service (with htmx and without), the check before submitting, the audit trail, and a fixed query count."""

from datetime import UTC, date, datetime, time, timedelta

import pytest
import time_machine
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import AccessEvent
from journeys.models import TimeOff, Visit, WorkingHours
from journeys.selectors.schedule import PRACTITIONERS_SHOWN, at, free_slots, schedule_for, week_of
from journeys.services.visits import visit_cancel, visit_hours_warning, visit_schedule, visit_slot_check
from tests.factories import PatientFactory, UserFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 4, 13, 12, 0, tzinfo=UTC)  # Monday 13 April, 08:00 in the clinic (New York, EDT)
MONDAY = date(2026, 4, 13)
TUESDAY = date(2026, 4, 14)
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


def works_weekdays(user):
    for weekday in range(5):
        WorkingHours.objects.create(practitioner=user, weekday=weekday, starts=time(9), ends=time(12))
        WorkingHours.objects.create(practitioner=user, weekday=weekday, starts=time(13), ends=time(17))


@pytest.fixture
def bob(practitioner):
    works_weekdays(practitioner)
    return practitioner


@pytest.fixture
def dana(other_practitioner):
    works_weekdays(other_practitioner)
    return other_practitioner


@pytest.fixture
def ana(db):
    return PatientFactory(first_name="Ana", last_name="Silva", time_zone="Europe/London")


def book(patient, practitioner, day=TUESDAY, hour=10, minute=0, kind="follow_up", actor=None):
    return visit_schedule(
        patient=patient,
        practitioner=practitioner,
        kind=kind,
        starts_at=at(day, time(hour, minute)),
        actor=actor or practitioner,
    )


def slot_times(day_schedule):
    return [f"{slot.astimezone(at(MONDAY, time()).tzinfo):%H:%M}" for slot in day_schedule.free]


def bob_day(bob, day=TUESDAY, minutes=30):
    return schedule_for(days=[day], practitioners=[bob], minutes=minutes).rows[0].days[0]


# --- free slots ---------------------------------------------------------------------------------------


def test_free_slots_fill_the_working_hours_on_a_half_hour_grid(bob):
    assert slot_times(bob_day(bob)) == [
        "09:00", "09:30", "10:00", "10:30", "11:00", "11:30",
        "13:00", "13:30", "14:00", "14:30", "15:00", "15:30", "16:00", "16:30",
    ]  # fmt: skip


def test_a_booked_visit_and_time_off_are_never_offered_and_a_cancelled_one_frees_its_time(bob, ana):
    book(ana, bob, hour=10)  # 10:00–10:30
    intake = book(PatientFactory(), bob, hour=14, kind="intake")  # 14:00–15:00
    TimeOff.objects.create(
        practitioner=bob, starts_at=at(TUESDAY, time(16)), ends_at=at(TUESDAY, time(17)), reason="Course"
    )
    slots = slot_times(bob_day(bob))
    assert "10:00" not in slots and "14:00" not in slots and "14:30" not in slots
    assert "16:00" not in slots and "16:30" not in slots
    assert "10:30" in slots and "15:00" in slots

    visit_cancel(visit=intake, actor=bob)
    assert "14:00" in slot_times(bob_day(bob))


def test_a_longer_visit_is_offered_only_where_it_fits(bob, ana):
    book(ana, bob, hour=10)  # 10:00–10:30
    slots = slot_times(bob_day(bob, minutes=60))
    # 09:30 would run into 10:00; 11:30 would run past noon; 16:30 past five.
    assert slots[:3] == ["09:00", "10:30", "11:00"]
    assert "09:30" not in slots and "11:30" not in slots and "16:30" not in slots


def test_no_slot_is_offered_in_the_past_or_on_a_day_off(bob):
    with time_machine.travel(at(MONDAY, time(10, 5)), tick=False):
        assert slot_times(bob_day(bob, day=MONDAY))[0] == "10:30"
    sunday = MONDAY + timedelta(days=6)
    day = bob_day(bob, day=sunday)
    assert not day.works and day.free == []


def test_every_offered_slot_is_one_the_booking_service_accepts(bob, dana, ana):
    book(ana, bob, hour=9, minute=30)
    book(PatientFactory(), bob, hour=13, kind="intake")
    TimeOff.objects.create(practitioner=bob, starts_at=at(TUESDAY, time(15)), ends_at=at(TUESDAY, time(16)))
    for minutes in (20, 30, 45, 60):
        for slot in bob_day(bob, minutes=minutes).free:
            visit_slot_check(practitioner=bob, starts_at=slot, duration_minutes=minutes)  # raises if taken


def test_free_slots_are_pure_interval_arithmetic():
    start, end = at(MONDAY, time(9)), at(MONDAY, time(11))
    taken = [(at(MONDAY, time(9, 30)), at(MONDAY, time(10)))]
    slots = free_slots([(start, end)], taken, minutes=30, after=at(MONDAY, time(0)))
    assert slots == [at(MONDAY, time(9)), at(MONDAY, time(10)), at(MONDAY, time(10, 30))]


def test_free_slots_agree_with_a_slot_by_slot_check_over_overlapping_and_unordered_bookings():
    day = [(at(MONDAY, time(9)), at(MONDAY, time(12))), (at(MONDAY, time(13)), at(MONDAY, time(17)))]
    taken = [
        (at(MONDAY, time(15)), at(MONDAY, time(15, 20))),
        (at(MONDAY, time(8)), at(MONDAY, time(9, 10))),  # from before the day
        (at(MONDAY, time(10)), at(MONDAY, time(11))),
        (at(MONDAY, time(10, 30)), at(MONDAY, time(10, 45))),  # inside the one before
        (at(MONDAY, time(11, 50)), at(MONDAY, time(13, 5))),  # across lunch
        (at(TUESDAY, time(9)), at(TUESDAY, time(10))),  # another day of the week
    ]
    for minutes in (20, 30, 45, 60):
        expected = []
        for start, end in day:
            moment = start
            while moment + timedelta(minutes=minutes) <= end:
                ends = moment + timedelta(minutes=minutes)
                if not any(s < ends and e > moment for s, e in taken):
                    expected.append(moment)
                moment += timedelta(minutes=30)
        assert free_slots(day, taken, minutes=minutes, after=at(MONDAY, time(0))) == expected, minutes


def test_a_visit_lasts_at_most_eight_hours_so_the_overlap_window_is_bounded(bob, ana):
    with pytest.raises(IntegrityError), transaction.atomic():
        Visit.objects.create(
            patient=ana, practitioner=bob, kind="intake", starts_at=at(TUESDAY, time(9)), duration_minutes=481
        )
    longest = Visit.objects.create(
        patient=ana, practitioner=bob, kind="intake", starts_at=at(TUESDAY, time(1)), duration_minutes=480
    )
    # it began eight hours before 08:59: still found overlapping, and its time is never offered
    assert list(Visit.objects.overlapping(at(TUESDAY, time(8, 59)), at(TUESDAY, time(9, 30)))) == [longest]
    assert not Visit.objects.overlapping(at(TUESDAY, time(9)), at(TUESDAY, time(9, 30))).exists()


# --- the booking service's own rules --------------------------------------------------------------------


def test_the_service_refuses_a_visit_in_the_practitioners_time_off(bob, ana):
    TimeOff.objects.create(
        practitioner=bob, starts_at=at(TUESDAY, time(0)), ends_at=at(TUESDAY, time(23, 59)), reason="Holiday"
    )
    with pytest.raises(Exception) as refused:
        book(ana, bob, hour=10)
    assert refused.value.code == "time_off"
    assert "Dr. Bob Moss is away (Holiday)" in refused.value.messages[0]
    assert not Visit.objects.exists()


def test_outside_working_hours_is_a_warning_not_a_refusal(bob, ana):
    assert visit_hours_warning(practitioner=bob, starts_at=at(TUESDAY, time(10)), duration_minutes=30) == ""
    # across the lunch break: the stretches do not touch
    lunch = visit_hours_warning(practitioner=bob, starts_at=at(TUESDAY, time(11, 45)), duration_minutes=30)
    assert "outside Dr. Bob Moss's working hours (Tuesdays 09:00–12:00, 13:00–17:00" in lunch
    sunday = visit_hours_warning(
        practitioner=bob, starts_at=at(MONDAY + timedelta(days=6), time(10)), duration_minutes=30
    )
    assert "not on Sundays" in sunday
    book(ana, bob, hour=19)  # still bookable
    assert Visit.objects.count() == 1


def test_no_working_hours_set_means_no_warning(practitioner):
    assert (
        visit_hours_warning(practitioner=practitioner, starts_at=at(TUESDAY, time(22)), duration_minutes=30)
        == ""
    )


# --- the page -------------------------------------------------------------------------------------------


def test_a_practitioner_opens_on_their_own_day_and_staff_on_the_whole_clinic(client_for, bob, dana, staff):
    mine = client_for(bob).get("/schedule/")
    assert [row.practitioner for row in mine.context["schedule"].rows] == [bob]
    clinic = client_for(staff).get("/schedule/")
    assert {row.practitioner for row in clinic.context["schedule"].rows} == {bob, dana}
    whole = client_for(bob).get("/schedule/?practitioner=")
    assert {row.practitioner for row in whole.context["schedule"].rows} == {bob, dana}


def test_the_day_shows_visits_by_kind_and_status_and_the_patients_own_clock(client_for, bob, ana, staff):
    book(ana, bob, hour=10, kind="intake")
    other = book(PatientFactory(first_name="Ben", last_name="Okafor"), bob, hour=13)
    visit_cancel(visit=other, actor=bob)
    body = client_for(staff).get(f"/schedule/?day={TUESDAY}").content.decode()
    assert "10:00–11:00" in body and "Intake visit" in body and "Ana Silva" in body
    assert "15:00 their time (Europe/London)" in body  # 10:00 in New York
    assert 'title="Tuesday 14 April at 15:00 in Europe/London"' in body
    assert "Ben Okafor" in body and "Cancelled" in body


def test_the_week_shows_each_practitioners_days_and_leaves_out_an_empty_weekend(
    client_for, bob, dana, ana, staff
):
    book(ana, bob, hour=10)
    response = client_for(staff).get(f"/schedule/?view=week&day={TUESDAY}")
    days = response.context["schedule"].days
    assert days == week_of(TUESDAY)[:5]
    body = response.content.decode()
    assert 'id="schedule-week"' in body and "Ana Silva" in body
    assert "free times" in body and "view=day" in body


def test_the_free_slots_link_to_booking_with_and_without_htmx(client_for, bob, staff):
    body = client_for(staff).get(f"/schedule/?day={TUESDAY}&practitioner={bob.pk}").content.decode()
    assert f'href="/schedule/book/?practitioner={bob.pk}&amp;starts_at=2026-04-14T09:00&amp;' in body
    assert f'hx-get="/schedule/book/?practitioner={bob.pk}&amp;starts_at=2026-04-14T09:00&amp;' in body
    assert 'hx-target="#booking-panel"' in body


def test_bad_choices_fall_back_with_a_message_and_never_fail(client_for, staff, bob):
    for query in ("day=someday", "practitioner=99999", "kind=massage", "view=month", "patient=abc"):
        response = client_for(staff).get(f"/schedule/?{query}")
        assert response.status_code == 200, query
        assert "The schedule shows the usual choice instead." in response.content.decode(), query


def test_booking_for_a_patient_carries_them_into_each_slot(client_for, staff, bob, ana):
    body = client_for(staff).get(f"/schedule/?patient={ana.pk}&day={TUESDAY}").content.decode()
    assert "Booking for" in body and "Ana Silva" in body
    assert f"patient={ana.pk}" in body


def test_the_day_list_prints(client_for, staff, bob):
    body = client_for(staff).get("/schedule/").content.decode()
    assert "data-print" in body and "schedule-page" in body


def test_the_schedule_is_in_the_navigation_with_the_open_alert_count(client_for, staff):
    from compliance.models import Alert

    body = client_for(staff).get("/").content.decode()
    assert 'href="/schedule/">Schedule</a>' in body
    assert 'id="nav-alerts">Alerts</a>' in body  # no count when none is open
    for _ in range(3):
        Alert.objects.create(patient=PatientFactory(), reason="low_adherence", detail="50%")
    Alert.objects.create(
        patient=PatientFactory(), reason="low_adherence", detail="50%", resolved_at=timezone.now()
    )
    body = client_for(staff).get("/").content.decode()
    assert (
        '<span class="badge rounded-pill text-bg-warning">3<span class="visually-hidden"> open</span>' in body
    )


def test_the_navigation_caps_the_alert_count(client_for, staff):
    from compliance.models import Alert

    Alert.objects.bulk_create(
        Alert(patient=patient, reason="low_adherence", detail="50%")
        for patient in PatientFactory.create_batch(100)
    )
    with CaptureQueriesContext(connection) as queries:
        body = client_for(staff).get("/schedule/").content.decode()
    assert ">99+<" in body
    counts = [q["sql"] for q in queries if "compliance_alert" in q["sql"]]
    assert len(counts) == 1 and "LIMIT 100" in counts[0]


def test_the_schedule_audits_the_patients_it_shows(client_for, staff, bob, ana):
    visit = book(ana, bob, hour=10)
    client_for(staff).get(f"/schedule/?day={TUESDAY}")
    event = AccessEvent.objects.filter(action="list", object_repr="schedule").latest("pk")
    assert event.patient_ids == [visit.patient_id]


def test_only_signed_in_clinic_roles_see_the_schedule(client):
    response = client.get("/schedule/")
    assert response.status_code == 302 and "/accounts/sign-in/" in response["Location"]


@pytest.mark.parametrize("role", ["staff", "practitioner"])
@pytest.mark.parametrize("view", ["day", "week"])
def test_the_schedule_runs_the_same_queries_for_5_and_50_visits(request, client_for, bob, dana, role, view):
    client = client_for(request.getfixturevalue(role))
    url = f"/schedule/?view={view}&day={TUESDAY}&practitioner="

    def add(count):
        start = Visit.objects.count()
        for i in range(start, start + count):
            person = bob if i % 2 else dana
            day = TUESDAY + timedelta(days=(i // 2) // 16)
            slot = (i // 2) % 16
            hour, minute = 9 + slot // 2, 30 * (slot % 2)
            Visit.objects.create(
                patient=PatientFactory(),
                practitioner=person,
                kind="follow_up",
                starts_at=at(day, time(hour, minute)),
            )

    def queries():
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url)
        assert response.status_code == 200
        return len(captured), response.context["schedule"].visit_count

    add(5)
    few, shown = queries()
    assert shown == 5
    add(45)
    many, shown = queries()
    assert shown == (50 if view == "week" else 32)
    assert many == few
    # session, user, practitioners, hours, time off, booked times, visits shown, the audit row (its chain's
    # last row and INSERT; and its lock on PostgreSQL), the navigation's alert count
    assert few <= (11 if connection.vendor == "postgresql" else 10)


def practitioners(count):
    people = [
        UserFactory(role="practitioner", username=f"dr{n:02d}", display_name=f"Dr. {n:02d} Quinn")
        for n in range(count)
    ]
    for person in people:
        works_weekdays(person)
    return people


def test_the_whole_clinic_is_shown_a_screenful_of_practitioners_at_a_time(client_for, staff):
    people = practitioners(PRACTITIONERS_SHOWN + 3)
    client = client_for(staff)
    first = client.get(f"/schedule/?day={TUESDAY}")
    assert [row.practitioner for row in first.context["schedule"].rows] == people[:PRACTITIONERS_SHOWN]
    body = first.content.decode()
    assert f'id="day-{people[0].pk}-heading">Dr. 00 Quinn</h2>' in body
    assert "Book 09:00 with Dr. 00 Quinn" in body
    assert f"Practitioners 1–{PRACTITIONERS_SHOWN} of {len(people)}, by name" in body
    assert "Next practitioners" in body and "Previous practitioners" not in body

    second = client.get(f"/schedule/?day={TUESDAY}&page=2&view=week")
    assert [row.practitioner for row in second.context["schedule"].rows] == people[PRACTITIONERS_SHOWN:]
    body = second.content.decode()
    assert f'<th scope="row" class="text-nowrap">Dr. {PRACTITIONERS_SHOWN:02d} Quinn</th>' in body
    assert f"Practitioners {PRACTITIONERS_SHOWN + 1}–{len(people)} of {len(people)}" in body
    assert "Previous practitioners" in body and "Next practitioners" not in body
    # the other days, day and week keep the page; a practitioner's own day does not need one
    assert "page=2" in second.context["previous"] and "page=2" in second.context["day_view"]
    assert "page=" not in second.context["schedule"].rows[0].days[0].link

    last = client.get(f"/schedule/?day={TUESDAY}&page=99")
    assert [row.practitioner for row in last.context["schedule"].rows] == people[PRACTITIONERS_SHOWN:]
    chosen = client.get(f"/schedule/?day={TUESDAY}&page=2&practitioner={people[0].pk}")
    assert [row.practitioner for row in chosen.context["schedule"].rows] == [people[0]]
    assert str(chosen.context["chosen"]) == "Dr. 00 Quinn"
    assert "Next practitioners" not in chosen.content.decode()
    assert "The schedule shows the usual choice instead." in client.get("/schedule/?page=x").content.decode()


def test_the_booking_from_a_slot_returns_to_the_same_page_of_practitioners(client_for, staff):
    people = practitioners(PRACTITIONERS_SHOWN + 1)
    body = client_for(staff).get(f"/schedule/?day={TUESDAY}&page=2").content.decode()
    assert f"/schedule/book/?practitioner={people[-1].pk}&amp;starts_at=2026-04-14T09:00&amp;" in body
    assert (
        "next=%2Fschedule%2F%3Fview%3Dday%26day%3D2026-04-14%26practitioner%3D%26kind%3Dfollow_up%26page%3D2"
        in body
    )


def test_what_people_wrote_is_escaped_in_the_schedules_rows(client_for, staff, bob):
    sly = PatientFactory(first_name="<b>Ana</b>", last_name="O'Hara", time_zone="Europe/London")
    visit = book(sly, bob, hour=10)
    Visit.objects.filter(pk=visit.pk).update(location='Room "7" <i>')
    TimeOff.objects.create(
        practitioner=bob, starts_at=at(TUESDAY, time(15)), ends_at=at(TUESDAY, time(16)), reason="<script>x"
    )
    client = client_for(staff)
    day = client.get(f"/schedule/?day={TUESDAY}").content.decode()
    week = client.get(f"/schedule/?day={TUESDAY}&view=week").content.decode()
    for body in (day, week):
        assert "<b>Ana" not in body and "&lt;b&gt;Ana&lt;/b&gt; O&#x27;Hara" in body
        assert "<script>x" not in body
    assert "· Room &quot;7&quot; &lt;i&gt;" in day and "Away: &lt;script&gt;x" in day
    assert f'<a href="/visits/{visit.pk}/">' in day and f'<a href="/visits/{visit.pk}/">' in week


@pytest.mark.parametrize("view", ["day", "week"])
def test_the_schedule_runs_the_same_queries_for_a_few_practitioners_and_many(client_for, staff, view):
    client = client_for(staff)
    url = f"/schedule/?view={view}&day={TUESDAY}"

    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    for person in practitioners(2):
        book(PatientFactory(), person, hour=10)
    few = queries()
    for person in practitioners(3 * PRACTITIONERS_SHOWN)[2:]:
        book(PatientFactory(), person, hour=11)
    assert queries() == few


# --- booking from a slot --------------------------------------------------------------------------------


def slot_get(client, bob, hour=10, **extra):
    query = {"practitioner": bob.pk, "starts_at": f"{TUESDAY}T{hour:02d}:00", "kind": "follow_up"} | extra
    return client.get("/schedule/book/", query)


def booking(bob, patient, hour=10, **extra):
    return {
        "practitioner": bob.pk,
        "starts_at": f"{TUESDAY}T{hour:02d}:00",
        "kind": "follow_up",
        "duration_minutes": "30",
        "location": "",
        "patient": patient.pk,
        "next": f"/schedule/?day={TUESDAY}",
    } | extra


def test_the_booking_form_opens_on_the_slot_it_came_from(client_for, staff, bob):
    body = slot_get(client_for(staff), bob).content.decode()
    assert 'value="2026-04-14T10:00"' in body
    assert "Dr. Bob Moss is free on Tuesday 14 April, 10:00–10:30." in body


def test_the_htmx_form_is_the_panel_alone(client_for, staff, bob):
    response = client_for(staff).get(
        "/schedule/book/", {"practitioner": bob.pk, "starts_at": f"{TUESDAY}T10:00", "kind": "intake"}, **HTMX
    )
    body = response.content.decode()
    assert "<html" not in body and 'id="slot-booking-form"' in body
    assert "10:00–11:00" in body  # an intake's usual length


def test_booking_from_a_slot_books_through_the_service_and_returns_to_the_schedule(
    client_for, staff, bob, ana
):
    response = client_for(staff).post("/schedule/book/", booking(bob, ana))
    assert response.status_code == 302 and response["Location"] == f"/schedule/?day={TUESDAY}"
    visit = Visit.objects.get()
    assert (visit.patient, visit.practitioner, visit.starts_at) == (ana, bob, at(TUESDAY, time(10)))
    assert visit.created_by == staff
    assert AccessEvent.objects.filter(action="create", patient_id=ana.pk).exists()
    page = client_for(staff).get(response["Location"]).content.decode()
    assert "Follow-up booked for Ana Silva with Dr. Bob Moss on Tuesday 14 April at 10:00." in page
    assert "10:00–10:30" in page


def test_an_htmx_booking_sends_the_browser_back_to_the_schedule(client_for, staff, bob, ana):
    response = client_for(staff).post("/schedule/book/", booking(bob, ana), **HTMX)
    assert response.status_code == 204 and response["HX-Redirect"] == f"/schedule/?day={TUESDAY}"


def test_a_slot_taken_meanwhile_is_refused_with_the_services_words_and_nothing_changes(
    client_for, staff, bob, ana
):
    book(PatientFactory(), bob, hour=10)
    response = client_for(staff).post("/schedule/book/", booking(bob, ana), **HTMX)
    assert response.status_code == 422
    body = response.content.decode()
    assert "Dr. Bob Moss is already booked for a follow-up on Tuesday 14 April at 10:00–10:30" in body
    assert Visit.objects.count() == 1
    assert f'value="{ana.pk}"' in body and "checked" in body  # the chosen patient is kept


def test_booking_without_a_patient_asks_for_one(client_for, staff, bob):
    response = client_for(staff).post("/schedule/book/", booking(bob, PatientFactory()) | {"patient": ""})
    assert response.status_code == 422
    assert "Choose the patient this visit is for" in response.content.decode()
    assert not Visit.objects.exists()


def test_an_archived_or_unknown_patient_is_refused_not_a_crash(client_for, staff, bob):
    archived = PatientFactory(archived=True)
    for pk in (archived.pk, 999999, "abc"):
        response = client_for(staff).post("/schedule/book/", booking(bob, archived) | {"patient": pk})
        assert response.status_code == 422
        assert response.context["form"].errors["patient"] == [
            "That patient is not in the clinic's active list: find them by name again."
        ]
    assert not Visit.objects.exists()


def test_the_next_address_must_be_on_this_site(client_for, staff, bob, ana):
    response = client_for(staff).post("/schedule/book/", booking(bob, ana, next="https://evil.example/"))
    assert response["Location"] == "/schedule/"


def test_the_check_before_submitting_refuses_a_clash_and_warns_outside_hours(client_for, staff, bob, ana):
    book(PatientFactory(), bob, hour=10)
    client = client_for(staff)
    clash = client.post("/schedule/book/check/", booking(bob, ana), **HTMX).content.decode()
    assert "is already booked for a follow-up" in clash and "alert-danger" in clash
    free = client.post("/schedule/book/check/", booking(bob, ana, starts_at=f"{TUESDAY}T11:00"), **HTMX)
    assert "Dr. Bob Moss is free on Tuesday 14 April, 11:00–11:30." in free.content.decode()
    late = client.post("/schedule/book/check/", booking(bob, ana, starts_at=f"{TUESDAY}T18:00"), **HTMX)
    assert (
        "Moss&#x27;s working hours (Tuesdays 09:00–12:00, 13:00–17:00, clinic time)" in late.content.decode()
    )
    assert not Visit.objects.filter(patient=ana).exists()


def test_the_check_gives_the_services_quiet_hours_warning(client_for, staff, bob, ana):
    # 16:00 in New York is 21:00 in London: inside Ana's quiet hours (20:00–08:00)
    body = (
        client_for(staff)
        .post("/schedule/book/check/", booking(bob, ana, starts_at=f"{TUESDAY}T16:00"), **HTMX)
        .content.decode()
    )
    assert "inside their quiet hours" in body


def test_the_patient_search_lists_a_few_matches_and_audits_them(client_for, staff, bob, ana):
    PatientFactory(first_name="Anabel", last_name="Quist")
    PatientFactory(first_name="Zed", last_name="Other")
    body = client_for(staff).get("/schedule/book/patients/", {"q": "ana"}, **HTMX).content.decode()
    assert "Ana Silva" in body and "Anabel Quist" in body and "Zed" not in body
    event = AccessEvent.objects.filter(object_repr="booking search").latest("pk")
    assert sorted(event.patient_ids) == sorted(
        p.pk for p in ana.__class__.objects.filter(first_name__startswith="Ana")
    )
    assert (
        "Write two letters" in client_for(staff).get("/schedule/book/patients/", {"q": "a"}).content.decode()
    )


def test_without_javascript_find_reloads_the_form_with_the_matches_and_the_slot_kept(
    client_for, staff, bob, ana
):
    body = slot_get(client_for(staff), bob, q="silva", find="1").content.decode()
    assert "Ana Silva" in body and 'value="2026-04-14T10:00"' in body and "<html" in body


# --- admin keeps the hours ------------------------------------------------------------------------------


def test_an_admin_sets_working_hours_and_the_schedule_offers_them(
    client_for, admin_user, practitioner, staff
):
    client = client_for(admin_user)
    response = client.post(
        "/admin/journeys/workinghours/add/",
        {"practitioner": practitioner.pk, "weekday": 1, "starts": "08:00", "ends": "09:00"},
    )
    assert response.status_code == 302
    day = schedule_for(days=[TUESDAY], practitioners=[practitioner]).rows[0].days[0]
    assert slot_times(day) == ["08:00", "08:30"]
    refused = client.post(
        "/admin/journeys/workinghours/add/",
        {"practitioner": practitioner.pk, "weekday": 1, "starts": "12:00", "ends": "11:00"},
    )
    assert "The hours must end after they start" in refused.content.decode()
    assert WorkingHours.objects.count() == 1


def test_admin_offers_only_practitioners_for_hours(client_for, admin_user, practitioner, staff):
    form = client_for(admin_user).get("/admin/journeys/workinghours/add/").context["adminform"].form
    assert set(form.fields["practitioner"].queryset) == {practitioner, admin_user}


def test_time_off_over_booked_visits_tells_the_admin_to_move_them(client_for, admin_user, bob, ana):
    book(ana, bob, hour=10)
    response = client_for(admin_user).post(
        "/admin/journeys/timeoff/add/",
        {
            "practitioner": bob.pk,
            "starts_at_0": str(TUESDAY),
            "starts_at_1": "00:00",
            "ends_at_0": str(TUESDAY),
            "ends_at_1": "23:00",
            "reason": "Holiday",
        },
        follow=True,
    )
    assert "1 booked visit of Dr. Bob Moss falls in this time off" in response.content.decode()
    assert bob_day(bob).free == []


def test_booking_into_time_off_is_refused_next_to_the_time(client_for, staff, bob, ana):
    TimeOff.objects.create(
        practitioner=bob, starts_at=at(TUESDAY, time(9)), ends_at=at(TUESDAY, time(12)), reason="Course"
    )
    response = client_for(staff).post("/schedule/book/", booking(bob, ana))
    assert response.status_code == 422
    assert response.context["form"].errors["starts_at"][0].startswith("Dr. Bob Moss is away (Course)")
    assert not Visit.objects.exists()


def test_the_patients_booking_form_leads_to_their_free_times(client_for, staff, ana):
    body = client_for(staff).get(f"/patients/{ana.pk}/visits/new/").content.decode()
    assert f'href="/schedule/?patient={ana.pk}&amp;practitioner="' in body
