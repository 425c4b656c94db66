"""The clinic's message pages: the patient's Messages panel, the outbox and the review queue."""

import csv
import io
import itertools
import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import AccessEvent
from nudges import selectors, services
from nudges.models import InboundMessage, Nudge
from patients import services as patient_services
from tests.factories import PatientFactory
from tests.support.patient_page import tab_url

pytestmark = pytest.mark.django_db

# 12:00 in New York (the clinic), 17:00 in London; after the fixtures' real "now".
NOON_NY = datetime(2027, 6, 10, 16, 0, tzinfo=UTC)
SCRIPT = "<script>alert(1)</script>"
_keys = itertools.count()


def make(patient, status="pending", kind="checkin_request", channel="email", send_at=NOON_NY, **fields):
    """A nudge in any state, written straight to the outbox table."""
    if status == "sent":
        fields.setdefault("sent_at", send_at)
    if status == "sending":
        fields.setdefault("claimed_at", send_at)
    return Nudge.objects.create(
        patient=patient,
        kind=kind,
        channel=channel,
        send_at=send_at,
        status=status,
        dedupe_key=f"test:{next(_keys)}",
        **fields,
    )


def page(client, url):
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def messages_of(response) -> str:
    return " ".join(str(m) for m in response.context["messages"])


# --- The Messages panel on the patient's page ---------------------------------------------------


@time_machine.travel(NOON_NY, tick=False)
def test_the_panel_shows_each_nudge_with_its_status_and_why_it_did_not_go(
    client_for, staff, consenting_patient
):
    make(consenting_patient, "sent", body_text="Your weekly check-in is ready.")
    make(consenting_patient, "failed", last_error="mailbox full (552)")
    make(consenting_patient, "suppressed", channel="sms", status_reason="no SMS consent")
    make(consenting_patient, "cancelled", kind="visit_reminder", status_reason="visit cancelled")
    make(consenting_patient, "unknown", last_error="no answer within 10 s")
    make(consenting_patient, "pending", send_at=NOON_NY + timedelta(days=1))

    body = page(client_for(staff), tab_url(consenting_patient, "messages"))

    for label in ("Sent", "Failed", "Held back", "Withdrawn", "Unknown: check before resending", "Scheduled"):
        assert label in body, label
    for reason in ("mailbox full (552)", "no SMS consent", "visit cancelled", "no answer within 10 s"):
        assert reason in body, reason
    assert "Visit reminder" in body and "Check-in request" in body
    assert "Your weekly check-in is ready." in body


@time_machine.travel(NOON_NY, tick=False)
def test_the_panel_shows_clinic_time_and_the_patients_own_time(client_for, staff, consenting_patient):
    consenting_patient.time_zone = "Europe/London"
    consenting_patient.save()
    make(consenting_patient, "pending", kind="one_off", send_at=datetime(2027, 6, 11, 13, 30, tzinfo=UTC))

    body = page(client_for(staff), tab_url(consenting_patient, "messages"))

    assert "11 Jun 2027, 09:30" in body  # New York, the clinic
    assert "11 Jun, 14:30 their time" in body  # London


@time_machine.travel(NOON_NY, tick=False)
def test_the_check_in_requests_to_come_are_summed_up_not_listed(client_for, staff, consenting_patient):
    consenting_patient.time_zone = "Europe/London"
    consenting_patient.save()
    first = datetime(2027, 6, 11, 9, 0, tzinfo=UTC)  # 10:00 in London
    future = [make(consenting_patient, "pending", send_at=first + timedelta(weeks=n)) for n in range(5)]
    due = make(consenting_patient, "pending", send_at=NOON_NY - timedelta(minutes=5))  # going out now
    reminder = make(consenting_patient, "pending", kind="visit_reminder", send_at=first)

    body = page(client_for(staff), tab_url(consenting_patient, "messages"))

    summary = body[
        body.index('id="scheduled-requests"') : body.index("</p>", body.index('id="scheduled-requests"'))
    ]
    assert " ".join(summary.split()).count("5 weekly check-in requests scheduled, next") == 1
    assert "Fri 11 Jun, 10:00" in summary and "their time" in summary
    assert "view=upcoming&amp;kind=checkin_request&amp;patient=" in summary
    for nudge in future:
        assert f'id="nudge-{nudge.pk}"' not in body
    assert f'id="nudge-{due.pk}"' in body and f'id="nudge-{reminder.pk}"' in body


@time_machine.travel(NOON_NY, tick=False)
def test_one_request_to_come_has_no_cadence_and_none_says_nothing(client_for, staff, consenting_patient):
    client = client_for(staff)
    assert 'id="scheduled-requests"' not in page(client, tab_url(consenting_patient, "messages"))
    make(consenting_patient, "pending", send_at=NOON_NY + timedelta(days=3))
    body = page(client, tab_url(consenting_patient, "messages"))
    assert "1 check-in request scheduled, next" in " ".join(body.split())
    assert "No messages yet." not in body


@time_machine.travel(NOON_NY, tick=False)
def test_the_summary_of_requests_to_come_costs_the_same_for_0_2_and_40(client_for, staff, consenting_patient):
    client = client_for(staff)
    url = tab_url(consenting_patient, "messages")
    page(client, url)
    with CaptureQueriesContext(connection) as none:
        page(client, url)
    for n in range(2):
        make(consenting_patient, "pending", send_at=NOON_NY + timedelta(weeks=n + 1))
    page(client, url)
    with CaptureQueriesContext(connection) as small:
        page(client, url)
    for n in range(2, 40):
        make(consenting_patient, "pending", send_at=NOON_NY + timedelta(weeks=n + 1))
    with CaptureQueriesContext(connection) as large:
        body = page(client, url)
    assert len(none) == len(small) == len(large)
    assert "40 weekly check-in requests scheduled" in " ".join(body.split())


def test_the_panel_says_which_channels_reach_the_patient(client_for, staff, consenting_patient):
    patient_services.consent_record(patient=consenting_patient, channel="sms", granted=False, via="SMS STOP")

    body = page(client_for(staff), tab_url(consenting_patient, "messages"))

    assert "Email: yes" in body
    assert "SMS: no" in body and "(no SMS consent)" in body
    assert 'id="one-off-form"' in body


def test_the_panel_offers_no_form_when_nothing_reaches_the_patient(client_for, staff, consenting_patient):
    patient_services.patient_unsubscribe(patient=consenting_patient, via="test")

    body = page(client_for(staff), tab_url(consenting_patient, "messages"))

    assert "(patient unsubscribed)" in body
    assert 'id="one-off-form"' not in body
    assert "no message can be written from here" in body


def test_the_panel_runs_the_same_number_of_queries_for_3_and_30_nudges(client_for, staff, consenting_patient):
    client = client_for(staff)
    url = tab_url(consenting_patient, "messages")
    for status in ("sent", "failed", "pending"):
        make(consenting_patient, status)
    with CaptureQueriesContext(connection) as small:
        page(client, url)
    for i in range(27):
        make(consenting_patient, ("sent", "failed", "suppressed")[i % 3], last_error="x", status_reason="y")
    with CaptureQueriesContext(connection) as large:
        body = page(client, url)
    assert len(large) == len(small)
    assert "The 20 most recent messages" in body


# --- Writing a one-off message --------------------------------------------------------------------


@time_machine.travel(NOON_NY, tick=False)
def test_a_one_off_message_sent_now_is_scheduled_for_now(client_for, staff, consenting_patient):
    response = client_for(staff).post(
        f"/nudges/patient/{consenting_patient.pk}/send/",
        {"channel": "email", "subject": "Your labs", "message": "Your results are in."},
        follow=True,
    )

    nudge = Nudge.objects.get()
    assert (nudge.kind, nudge.channel, nudge.send_at) == ("one_off", "email", NOON_NY)
    assert nudge.context["message"] == "Your results are in." and nudge.created_by == staff
    assert "Message on its way" in messages_of(response)
    assert response.redirect_chain[-1][0] == f"/patients/{consenting_patient.pk}/?tab=messages#panel-messages"
    assert AccessEvent.objects.filter(action="create", patient_id=consenting_patient.pk).exists()


@time_machine.travel(NOON_NY, tick=False)
def test_a_one_off_at_a_chosen_time_is_read_in_the_patients_zone_and_stored_in_utc(
    client_for, staff, consenting_patient
):
    consenting_patient.time_zone = "Europe/London"  # the clinic is in New York
    consenting_patient.save()

    response = client_for(staff).post(
        f"/nudges/patient/{consenting_patient.pk}/send/",
        {"channel": "sms", "message": "See you tomorrow.", "send_at": "2027-06-11T09:30"},
        follow=True,
    )

    nudge = Nudge.objects.get()
    assert nudge.send_at == datetime(2027, 6, 11, 8, 30, tzinfo=UTC)  # 09:30 BST
    event = AccessEvent.objects.filter(action="create", patient_id=consenting_patient.pk).latest("pk")
    assert "2027-06-11 08:30 UTC" in event.detail
    assert "11 Jun 2027, 09:30 their time" in messages_of(response)


@time_machine.travel(NOON_NY, tick=False)
def test_a_one_off_inside_quiet_hours_says_when_it_will_really_go(client_for, staff, consenting_patient):
    response = client_for(staff).post(
        f"/nudges/patient/{consenting_patient.pk}/send/",
        {"channel": "email", "message": "Late note.", "send_at": "2027-06-10T22:00"},
        follow=True,
    )
    assert "quiet hours, so it will go at 08:00 their time" in messages_of(response)


@time_machine.travel(NOON_NY, tick=False)
def test_a_time_in_the_past_is_refused_with_a_clear_message_and_nothing_is_created(
    client_for, staff, consenting_patient
):
    response = client_for(staff).post(
        f"/nudges/patient/{consenting_patient.pk}/send/",
        {"channel": "email", "message": "Hello", "send_at": "2027-06-10T11:00"},
        follow=True,
    )

    assert "That time has passed" in messages_of(response)
    assert not Nudge.objects.exists()


@time_machine.travel(datetime(2028, 3, 20, 12, 0, tzinfo=UTC), tick=False)
def test_a_time_that_does_not_exist_in_the_patients_zone_is_refused(client_for, staff, consenting_patient):
    consenting_patient.time_zone = "Europe/London"  # clocks jump from 01:00 to 02:00 on 26 March 2028
    consenting_patient.save()

    response = client_for(staff).post(
        f"/nudges/patient/{consenting_patient.pk}/send/",
        {"channel": "email", "message": "Hello", "send_at": "2028-03-26T01:30"},
        follow=True,
    )

    assert "Europe/London" in messages_of(response) and "may not exist" in messages_of(response)
    assert not Nudge.objects.exists()


def test_a_one_off_on_a_channel_without_consent_is_refused(client_for, staff, consenting_patient):
    patient_services.consent_record(patient=consenting_patient, channel="sms", granted=False, via="SMS STOP")

    response = client_for(staff).post(
        f"/nudges/patient/{consenting_patient.pk}/send/", {"channel": "sms", "message": "Hi"}, follow=True
    )

    assert "SMS cannot reach this patient now (no SMS consent)" in messages_of(response)
    assert not Nudge.objects.exists()


@time_machine.travel(NOON_NY, tick=False)
def test_a_refused_message_keeps_what_was_typed(client_for, staff, consenting_patient):
    response = client_for(staff).post(
        f"/nudges/patient/{consenting_patient.pk}/send/",
        {
            "channel": "email",
            "subject": "Your labs",
            "message": "Your ferritin is back up.",
            "send_at": "2027-06-10T11:00",
        },
    )

    assert response.status_code == 200
    body = response.content.decode()
    assert "That time has passed" in body
    assert "Your ferritin is back up.</textarea>" in body and 'value="Your labs"' in body
    assert 'value="2027-06-10T11:00"' in body
    assert "Nothing was sent. What you wrote is kept below" in body
    assert not Nudge.objects.exists()
    assert AccessEvent.objects.filter(action="view", patient_id=consenting_patient.pk).exists()


def test_a_message_the_service_refuses_keeps_what_was_typed(
    client_for, staff, consenting_patient, monkeypatch
):
    def refuse(**kwargs):
        raise ValidationError("The clinic's messages are paused.")

    monkeypatch.setattr(services, "nudge_send_one_off", refuse)
    response = client_for(staff).post(
        f"/nudges/patient/{consenting_patient.pk}/send/", {"channel": "sms", "message": "See you Thursday."}
    )

    body = response.content.decode()
    assert "The clinic&#x27;s messages are paused." in body
    assert "See you Thursday.</textarea>" in body
    assert '<option value="sms" selected>' in body


def test_only_channels_that_reach_the_patient_now_are_offered(client_for, staff, consenting_patient):
    client = client_for(staff)
    url = consenting_patient.section_url("messages")
    assert '<option value="sms"' in page(client, url) and '<option value="email"' in page(client, url)

    patient_services.consent_record(patient=consenting_patient, channel="sms", granted=False, via="SMS STOP")
    body = page(client, url)
    assert '<option value="sms"' not in body and '<option value="email"' in body

    consenting_patient.email = "renee.new@example.com"  # consent was given for the old address
    consenting_patient.save()
    patient_services.consent_record(patient=consenting_patient, channel="sms", granted=True, via="test")
    body = page(client, url)
    assert '<option value="email"' not in body and '<option value="sms"' in body


def test_an_empty_message_is_refused(client_for, staff, consenting_patient):
    response = client_for(staff).post(
        f"/nudges/patient/{consenting_patient.pk}/send/", {"channel": "email", "message": ""}, follow=True
    )
    assert "The message was not sent. Write the message before sending it." in messages_of(response)
    assert not Nudge.objects.exists()


@time_machine.travel(NOON_NY, tick=False)
def test_a_message_with_markup_is_escaped_on_the_panel_and_the_outbox(
    client_for, staff, consenting_patient, outbox
):
    client = client_for(staff)
    client.post(
        f"/nudges/patient/{consenting_patient.pk}/send/",
        {"channel": "email", "subject": f"Hi {SCRIPT}", "message": f"Note {SCRIPT}"},
    )
    nudge = Nudge.objects.get()
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    for when in ("scheduled", "sent"):
        pages = {
            tab_url(consenting_patient, "messages"): [f"Note {escaped}"],
            "/nudges/?view=all": [f"Hi {escaped}"],  # the row's line is the subject
            f"/nudges/{nudge.pk}/": [f"Hi {escaped}", f"Note {escaped}"],
        }
        for url, shown in pages.items():
            body = page(client, url)
            assert SCRIPT not in body, (when, url)
            for text in shown:
                assert text in body, (when, url, text)
        services.nudge_dispatch_due()
    assert Nudge.objects.get().status == "sent"


# --- The outbox ---------------------------------------------------------------------------------


@pytest.fixture
def mixed_outbox(consenting_patient):
    other = PatientFactory(first_name="José", last_name="Núñez")
    return {
        "sent_email": make(consenting_patient, "sent", send_at=datetime(2027, 6, 1, 15, tzinfo=UTC)),
        "failed_sms": make(
            other,
            "failed",
            channel="sms",
            send_at=datetime(2027, 6, 5, 15, tzinfo=UTC),
            last_error="bad number",
        ),
        "held_visit": make(
            consenting_patient,
            "suppressed",
            kind="visit_reminder",
            send_at=datetime(2027, 6, 9, 15, tzinfo=UTC),
            status_reason="patient unsubscribed",
        ),
        "unknown_sms": make(other, "unknown", channel="sms", send_at=datetime(2027, 6, 9, 16, tzinfo=UTC)),
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?view=all", {"sent_email", "failed_sms", "held_visit", "unknown_sms"}),
        ("?status=failed", {"failed_sms"}),  # an old link naming a status: every tab
        ("?status=suppressed", {"held_visit"}),
        ("?view=all&kind=visit_reminder", {"held_visit"}),
        ("?view=all&channel=sms", {"failed_sms", "unknown_sms"}),
        ("?channel=sms&status=unknown", {"unknown_sms"}),
        ("?view=all&date_from=2027-06-05", {"failed_sms", "held_visit", "unknown_sms"}),
        ("?view=all&date_to=2027-06-05", {"sent_email", "failed_sms"}),
        ("?view=all&date_from=2027-06-02&date_to=2027-06-08", {"failed_sms"}),
        ("", {"failed_sms", "unknown_sms"}),  # what needs a person comes first
        ("?view=needs&channel=sms&status=failed", {"failed_sms"}),
        ("?view=history", {"sent_email", "held_visit"}),
        ("?view=history&status=suppressed", {"held_visit"}),
        ("?view=upcoming", set()),
    ],
)
def test_the_outbox_filters(client_for, staff, mixed_outbox, query, expected):
    response = client_for(staff).get(f"/nudges/{query}")
    shown = {n.pk for n in response.context["page"].object_list}
    assert shown == {mixed_outbox[name].pk for name in expected}


def test_the_outbox_links_each_patient_and_shows_why(client_for, staff, mixed_outbox, consenting_patient):
    body = page(client_for(staff), "/nudges/?view=all")
    assert f'href="/patients/{consenting_patient.pk}/"' in body
    assert "José Núñez" in body
    assert "patient unsubscribed" in body and "bad number" in body


def test_the_outbox_shows_how_many_wait_for_review(client_for, staff, mixed_outbox):
    body = page(client_for(staff), "/nudges/")
    assert "To review: 2" in body and "(1 failed, 1 unknown)" in body


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?date_from=31/02/2027", "“From” is not a date"),
        ("?date_to=tomorrow", "“To” is not a date"),
        ("?date_from=2027-06-10&date_to=2027-06-01", "“To” is before “From”"),
    ],
)
def test_a_bad_date_filter_gets_a_clear_message(client_for, staff, mixed_outbox, query, message):
    body = page(client_for(staff), f"/nudges/{query}")
    assert message in body
    assert "The filters were not applied" in body


def test_an_unmatched_filter_says_so(client_for, staff, mixed_outbox):
    body = page(client_for(staff), "/nudges/?kind=graduation")
    assert "No message matches these filters" in body
    assert 'href="?view=needs">Clear filters' in body


def test_a_status_the_tab_does_not_hold_is_refused_with_a_clear_message(client_for, staff, mixed_outbox):
    response = client_for(staff).get("/nudges/?view=upcoming&status=sent")
    body = response.content.decode()
    assert "This tab holds no message with that status: choose another, or open All." in body
    assert response.context["view"] == "upcoming"
    statuses = [value for value, _ in response.context["filters"].fields["status"].choices]
    assert statuses == ["", "pending", "sending"]


# --- The outbox's order: what needs a person, then what is to come, then what went ----------------


@pytest.fixture
def outbox_in_time(consenting_patient):
    """Three of each: failed or unknown and not yet looked at, still to go, and done with."""
    day = timedelta(days=1)
    rows = {
        "needs": [
            make(consenting_patient, "failed", send_at=NOON_NY - 3 * day, last_error="mailbox full"),
            make(consenting_patient, "unknown", send_at=NOON_NY - 9 * day),
            make(consenting_patient, "failed", send_at=NOON_NY - 5 * day),
        ],
        "upcoming": [
            make(consenting_patient, "pending", send_at=NOON_NY + 40 * day),  # the farthest first, before
            make(consenting_patient, "pending", send_at=NOON_NY + 1 * day),
            make(consenting_patient, "sending", send_at=NOON_NY - timedelta(minutes=1)),
        ],
        "history": [
            make(consenting_patient, "sent", send_at=NOON_NY - 20 * day),
            make(consenting_patient, "suppressed", send_at=NOON_NY - 2 * day, status_reason="weekly limit"),
            make(consenting_patient, "cancelled", send_at=NOON_NY - 11 * day),
        ],
    }
    reviewed = make(consenting_patient, "failed", send_at=NOON_NY - 7 * day, reviewed_at=NOON_NY)
    rows["history"].append(reviewed)
    return rows


def shown(client, url) -> list[int]:
    return [nudge.pk for nudge in client.get(url).context["page"].object_list]


@time_machine.travel(NOON_NY, tick=False)
def test_each_tab_of_the_outbox_comes_in_its_own_order(client_for, staff, outbox_in_time):
    client = client_for(staff)
    oldest_first = sorted(outbox_in_time["needs"], key=lambda n: n.send_at)
    soonest_first = sorted(outbox_in_time["upcoming"], key=lambda n: n.send_at)
    newest_first = sorted(outbox_in_time["history"], key=lambda n: n.send_at, reverse=True)
    assert shown(client, "/nudges/?view=needs") == [n.pk for n in oldest_first]
    assert shown(client, "/nudges/?view=upcoming") == [n.pk for n in soonest_first]
    assert shown(client, "/nudges/?view=history") == [n.pk for n in newest_first]
    everything = [n for rows in outbox_in_time.values() for n in rows]
    assert shown(client, "/nudges/?view=all") == [
        n.pk for n in sorted(everything, key=lambda n: n.send_at, reverse=True)
    ]


@time_machine.travel(NOON_NY, tick=False)
def test_the_outbox_opens_on_what_needs_a_person_else_on_what_is_to_come(client_for, staff, outbox_in_time):
    client = client_for(staff)
    response = client.get("/nudges/")
    assert response.context["view"] == "needs"
    body = response.content.decode()
    assert re.search(r'class="nav-link active"\s+aria-current="true"\s+href="\?view=needs"', body)
    assert "the longest waiting first" in body
    Nudge.objects.filter(pk__in=[n.pk for n in outbox_in_time["needs"]]).update(reviewed_at=NOON_NY)
    response = client.get("/nudges/")
    assert response.context["view"] == "upcoming"
    assert shown(client, "/nudges/")[0] == outbox_in_time["upcoming"][2].pk  # the soonest


def test_the_outbox_tabs_keep_the_other_filters_but_not_the_status(client_for, staff, mixed_outbox):
    body = page(client_for(staff), "/nudges/?view=history&status=sent&kind=checkin_request&page=1")
    assert 'href="?kind=checkin_request&amp;view=upcoming"' in body
    assert 'href="?kind=checkin_request&amp;view=all"' in body


@time_machine.travel(NOON_NY, tick=False)
def test_the_outbox_narrows_to_one_patient(client_for, staff, mixed_outbox, consenting_patient):
    shown_pks = shown(client_for(staff), f"/nudges/?view=all&patient={consenting_patient.pk}")
    assert set(shown_pks) == {mixed_outbox["sent_email"].pk, mixed_outbox["held_visit"].pk}


# --- One line of real words per row --------------------------------------------------------------


@time_machine.travel(NOON_NY, tick=False)
def test_each_row_shows_one_line_of_the_messages_own_words(client_for, staff, consenting_patient):
    consenting_patient.first_name = "Renée"
    consenting_patient.save()
    sent = make(
        consenting_patient,
        "sent",
        subject="Your weekly check-in, Renée",
        body_text="Hi Renée, your check-in is ready.",
        taken_at=NOON_NY - timedelta(days=1),
        send_at=NOON_NY - timedelta(days=1),
    )
    pending_email = make(consenting_patient, "pending", send_at=NOON_NY + timedelta(days=1))
    pending_sms = make(consenting_patient, "pending", channel="sms", send_at=NOON_NY + timedelta(days=2))
    one_off = make(
        consenting_patient,
        "pending",
        kind="one_off",
        send_at=NOON_NY + timedelta(days=3),
        context={"message": "See you on Thursday at ten.", "subject": "", "sender_name": "Dr. Rivera"},
    )
    client = client_for(staff)
    listed = client.get("/nudges/?view=all").context["page"].object_list
    lines = dict(zip((row.pk for row in listed), selectors.outbox_lines(listed), strict=True))

    assert lines[sent.pk] == "Your weekly check-in, Renée"
    assert lines[pending_email.pk] == "Your weekly check-in, Renée"  # the clinic's wording, now
    assert lines[pending_sms.pk].startswith("Hi Renée")
    assert lines[one_off.pk] == "A note from your care team"  # no subject written: the default
    # A row carries its line; the whole message, as it will go, is on the message's own page.
    assert "See you on Thursday at ten." in page(client, f"/nudges/{one_off.pk}/")
    body = page(client, "/nudges/?view=all")
    assert body.count('class="outbox-line"') == 4
    assert f'href="/nudges/{sent.pk}/"' in body
    assert "written when it goes" not in body


def test_a_patients_own_words_never_show_in_the_outbox(client_for, staff, consenting_patient):
    nudge = make(consenting_patient, "sent", body_text="Your check-in is ready.", sent_at=NOON_NY)
    InboundMessage.objects.create(
        patient=consenting_patient,
        channel="sms",
        from_address="+13125550100",
        body="My marriage is falling apart and I stopped the pills",
        in_reply_to=nudge,
    )
    client = client_for(staff)
    for url in ("/nudges/?view=all", f"/nudges/{nudge.pk}/"):
        assert "My marriage is falling apart" not in page(client, url)


# --- One message on its own page -----------------------------------------------------------------


@time_machine.travel(NOON_NY, tick=False)
def test_a_sent_message_shows_exactly_what_was_sent(client_for, staff, consenting_patient):
    nudge = make(
        consenting_patient,
        "sent",
        subject="Your weekly check-in",
        body_text="Hi Maya,\nWhere did my plan fail you this week?\n\nhttps://crm.example/c/abc/",
        taken_at=NOON_NY,
    )
    client = client_for(staff)
    body = page(client, f"/nudges/{nudge.pk}/")
    assert "What was sent" in body
    assert '<p class="fw-semibold" id="message-subject">Your weekly check-in</p>' in body
    assert "Hi Maya,\nWhere did my plan fail you this week?\n\nhttps://crm.example/c/abc/</pre>" in body
    event = AccessEvent.objects.order_by("-seq").first()
    assert (event.action, event.actor, event.patient_id, event.object_id) == (
        "view",
        staff,
        consenting_patient.pk,
        str(nudge.pk),
    )


@time_machine.travel(NOON_NY, tick=False)
def test_a_scheduled_message_shows_what_its_wording_says_now(client_for, staff, consenting_patient):
    nudge = make(
        consenting_patient,
        "pending",
        channel="sms",
        send_at=NOON_NY + timedelta(days=1),
        context={"checkin_url": "https://crm.example/c/token/"},
    )
    body = page(client_for(staff), f"/nudges/{nudge.pk}/")
    words = " ".join(body.split())
    assert "What will be sent" in words and "written again the moment it goes" in words
    text = body[body.index('id="message-text">') : body.index("</pre>", body.index('id="message-text">'))]
    assert consenting_patient.first_name in text
    assert "https://crm.example/c/token/" in text and "Reply STOP to opt out." in text
    assert 'id="message-subject"' not in body  # a text message has no subject


def test_a_message_that_never_went_says_what_it_would_have_said(client_for, staff, consenting_patient):
    nudge = make(
        consenting_patient, "suppressed", kind="visit_reminder", status_reason="patient unsubscribed"
    )
    body = page(client_for(staff), f"/nudges/{nudge.pk}/")
    assert "What it would have said" in " ".join(body.split()) and "It never went." in body
    assert "patient unsubscribed" in body


def test_a_message_waiting_for_review_can_be_dealt_with_from_its_page(client_for, staff, consenting_patient):
    nudge = make(consenting_patient, "unknown", body_text="Hi", taken_at=NOON_NY, last_error="no answer")
    body = page(client_for(staff), f"/nudges/{nudge.pk}/")
    assert "it may have reached them" in body
    assert f'action="/nudges/{nudge.pk}/retry/"' in body and f'action="/nudges/{nudge.pk}/reviewed/"' in body
    Nudge.objects.filter(pk=nudge.pk).update(reviewed_at=NOON_NY)
    assert 'id="review-actions"' not in page(client_for(staff), f"/nudges/{nudge.pk}/")


@pytest.mark.parametrize("role", ["practitioner", "admin_user"])
def test_clinicians_read_what_came_back_on_the_messages_page(request, client_for, consenting_patient, role):
    nudge = make(consenting_patient, "sent", body_text="Your check-in is ready.", sent_at=NOON_NY)
    InboundMessage.objects.create(
        patient=consenting_patient,
        channel="sms",
        from_address="+1",
        body="Running late today",
        in_reply_to=nudge,
    )
    body = page(client_for(request.getfixturevalue(role)), f"/nudges/{nudge.pk}/")
    assert "Running late today" in body and "What came back" in body


def test_an_unknown_message_is_404_and_anonymous_visitors_sign_in(client_for, staff, consenting_patient):
    from django.test import Client

    assert client_for(staff).get("/nudges/999999/").status_code == 404
    response = Client().get(f"/nudges/{make(consenting_patient).pk}/")
    assert response.status_code == 302 and "/accounts/sign-in/" in response["Location"]


def test_a_messages_page_runs_the_same_queries_whatever_its_patient_holds(
    client_for, staff, consenting_patient
):
    nudge = make(consenting_patient, "sent", body_text="Hi", sent_at=NOON_NY)
    client = client_for(staff)
    small = count_queries(client, f"/nudges/{nudge.pk}/")
    for n in range(20):
        InboundMessage.objects.create(
            patient=consenting_patient, channel="sms", from_address="+1", body=f"n{n}", in_reply_to=nudge
        )
        make(consenting_patient, "sent", body_text="Hi", sent_at=NOON_NY)
    assert count_queries(client, f"/nudges/{nudge.pk}/") == small <= 10


def test_the_outbox_paginates_by_50_from_the_last_row_shown(client_for, staff, consenting_patient):
    for _ in range(55):
        make(consenting_patient)
    client = client_for(staff)
    first = client.get("/nudges/?status=pending")
    page = first.context["page"]
    assert len(page.object_list) == 50
    body = first.content.decode()
    assert "50 shown of 55 messages" in body
    assert f"status=pending&amp;view=all&amp;after={page.next_cursor}" in body
    second = client.get(f"/nudges/?status=pending&after={page.next_cursor}").context["page"]
    assert len(second.object_list) == 5 and not second.has_next
    assert not {n.pk for n in page.object_list} & {n.pk for n in second.object_list}


def count_queries(client, url):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


def add_nudges(n, author):
    for i, patient in enumerate(PatientFactory.create_batch(n)):
        make(patient, ("sent", "failed", "unknown", "pending", "suppressed")[i % 5], created_by=author)


@pytest.mark.parametrize("view", ["needs", "upcoming", "history", "all"])
def test_the_outbox_runs_the_same_number_of_queries_for_5_and_50_rows(client_for, staff, view):
    client = client_for(staff)
    url = f"/nudges/?view={view}"
    add_nudges(5 * 5, staff)  # five rows in each tab
    small = count_queries(client, url)
    add_nudges(45 * 5, staff)
    large = count_queries(client, url)
    assert len(client.get(url).context["page"].object_list) == 50
    assert large == small
    # A row's words: the wording in force and the leads' names, once for the page; on PostgreSQL the audit
    # chain's lock too (accounts.chain).
    assert small <= (11 if connection.vendor == "postgresql" else 10)


@pytest.mark.parametrize("view", ["needs", "upcoming", "history", "all"])
def test_a_deep_page_of_each_tab_costs_the_queries_page_1_costs(client_for, staff, view):
    client = client_for(staff)
    add_nudges(60 * 5, staff)  # sixty rows in each tab: three pages of 50 in All, two in the others
    url = f"/nudges/?view={view}"
    first = count_queries(client, url)
    cursor = client.get(url).context["page"].next_cursor
    deep = client.get(f"{url}&after={cursor}").context["page"]
    assert deep.has_previous and deep.object_list
    assert count_queries(client, f"{url}&after={cursor}") == first
    assert count_queries(client, f"{url}&page=last") == first
    assert count_queries(client, f"{url}&before={deep.previous_cursor}") == first


def test_the_to_review_count_stops_at_its_cap(staff):
    add_nudges(5 * 5, staff)  # five failed and five unknown
    counts = selectors.review_counts(cap=6)
    assert counts.capped and counts.total == 7
    assert not selectors.review_counts(cap=10).capped and selectors.review_counts(cap=10).total == 10


def test_the_review_page_runs_the_same_number_of_queries_for_2_and_40_items(client_for, staff):
    client = client_for(staff)
    add_nudges(5, staff)
    small = count_queries(client, "/nudges/review/")
    add_nudges(95, staff)
    large = count_queries(client, "/nudges/review/")
    assert large == small
    assert small <= (7 if connection.vendor == "postgresql" else 6)  # PostgreSQL: the audit chain's lock


def test_the_navigation_offers_messages_and_marks_it_active_on_message_pages(client_for, staff):
    client = client_for(staff)
    active = re.compile(r'class="nav-link active"\s+href="/nudges/">Messages</a>')
    assert active.search(page(client, "/nudges/"))
    assert active.search(page(client, "/nudges/review/"))
    patients = page(client, "/patients/")
    assert 'href="/nudges/">Messages</a>' in patients and not active.search(patients)


# --- Review -------------------------------------------------------------------------------------


def test_the_review_page_shows_what_went_wrong_and_the_message(client_for, staff, consenting_patient):
    make(
        consenting_patient,
        "failed",
        channel="sms",
        last_error="carrier refused the number",
        body_text=f"Hi Renée {SCRIPT}. Reply STOP to opt out.",
    )
    make(consenting_patient, "unknown", last_error="no answer within 10 s")
    make(consenting_patient, "failed", reviewed_at=NOON_NY, last_error="already looked at")
    make(consenting_patient, "sent")

    body = page(client_for(staff), "/nudges/review/")

    assert "carrier refused the number" in body and "no answer within 10 s" in body
    assert "already looked at" not in body
    assert "<summary>The message</summary>" in body and "Hi Renée &lt;script&gt;" in body
    assert SCRIPT not in body
    assert "Check with them before sending it again" in body
    assert body.count(">Send again</button>") == 2 and body.count(">Leave as is</button>") == 2


@time_machine.travel(NOON_NY, tick=False)
def test_a_nudge_that_failed_for_good_shows_its_final_error_and_no_retrying(
    client_for, staff, consenting_patient, settings
):
    settings.SMS_BACKEND = "tests.nudges.flaky.AlwaysDownSmsBackend"
    settings.NUDGE_MAX_ATTEMPTS = 2
    nudge = services.nudge_schedule(
        patient=consenting_patient, kind="graduation", channel="sms", send_at=NOON_NY, dedupe_key="gives-up"
    )
    services.nudge_dispatch_due()
    nudge.refresh_from_db()
    assert nudge.status == "pending" and nudge.status_reason.startswith("retrying in 1 min")
    with time_machine.travel(NOON_NY + timedelta(minutes=1), tick=False):
        services.nudge_dispatch_due()
    nudge.refresh_from_db()
    assert (nudge.status, nudge.status_reason) == ("failed", "")

    client = client_for(staff)
    for url in ("/nudges/review/", "/nudges/?status=failed", tab_url(consenting_patient, "messages")):
        body = page(client, url)
        assert "provider unavailable (503)" in body, url
        assert "retrying" not in body.lower(), url


def test_the_review_page_has_a_clear_empty_state(client_for, staff, consenting_patient):
    make(consenting_patient, "sent")
    assert "Nothing to review" in page(client_for(staff), "/nudges/review/")


@time_machine.travel(NOON_NY, tick=False)
def test_send_again_puts_the_message_back_in_the_queue(client_for, staff, consenting_patient):
    nudge = make(consenting_patient, "failed", send_at=NOON_NY - timedelta(days=1), attempts=5)

    response = client_for(staff).post(f"/nudges/{nudge.pk}/retry/", follow=True)

    nudge.refresh_from_db()
    assert (nudge.status, nudge.attempts, nudge.send_at) == ("pending", 0, NOON_NY)
    assert nudge.reviewed_by == staff
    assert "will be sent again" in messages_of(response)
    assert response.redirect_chain[-1][0] == "/nudges/review/"
    assert "Nothing to review" in response.content.decode()


def test_leave_as_is_marks_it_reviewed_and_sends_nothing(client_for, staff, consenting_patient):
    nudge = make(consenting_patient, "unknown")

    response = client_for(staff).post(f"/nudges/{nudge.pk}/reviewed/", follow=True)

    nudge.refresh_from_db()
    assert nudge.status == "unknown" and nudge.reviewed_by == staff and nudge.reviewed_at is not None
    assert "marked as reviewed" in messages_of(response)
    assert not Nudge.objects.needs_review().exists()


def test_send_again_on_a_sent_message_is_refused_and_changes_nothing(client_for, staff, consenting_patient):
    nudge = make(consenting_patient, "sent")

    response = client_for(staff).post(f"/nudges/{nudge.pk}/retry/", follow=True)

    assert "Only a failed or unknown message can be sent again." in messages_of(response)
    nudge.refresh_from_db()
    assert nudge.status == "sent" and nudge.reviewed_at is None


def test_review_actions_on_an_unknown_nudge_are_404(client_for, staff):
    client = client_for(staff)
    assert client.post("/nudges/999999/retry/").status_code == 404
    assert client.post("/nudges/999999/reviewed/").status_code == 404


def test_review_actions_need_post(client_for, staff, consenting_patient):
    nudge = make(consenting_patient, "failed")
    assert client_for(staff).get(f"/nudges/{nudge.pk}/retry/").status_code == 405
    nudge.refresh_from_db()
    assert nudge.status == "failed"


# --- Who may use the pages ----------------------------------------------------------------------


@pytest.mark.parametrize("role", ["staff", "practitioner", "admin_user"])
def test_every_role_can_use_the_message_pages(request, client_for, consenting_patient, role):
    client = client_for(request.getfixturevalue(role))
    nudge = make(consenting_patient, "failed")
    for url in ("/nudges/", "/nudges/review/", f"/patients/{consenting_patient.pk}/"):
        assert client.get(url).status_code == 200, url
    assert client.post(f"/nudges/{nudge.pk}/reviewed/").status_code == 302
    response = client.post(
        f"/nudges/patient/{consenting_patient.pk}/send/", {"channel": "email", "message": "Hello"}
    )
    assert response.status_code == 302 and Nudge.objects.filter(kind="one_off").count() == 1


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "/nudges/"),
        ("get", "/nudges/review/"),
        ("post", "/nudges/1/retry/"),
        ("post", "/nudges/1/reviewed/"),
        ("post", "/nudges/patient/1/send/"),
    ],
)
def test_anonymous_visitors_are_sent_to_sign_in(client, consenting_patient, method, url):
    nudge = make(consenting_patient, "failed")
    url = url.replace("/1/", f"/{nudge.pk}/").replace("patient/1", f"patient/{consenting_patient.pk}")
    response = getattr(client, method)(
        url, {"channel": "email", "message": "Hi"} if method == "post" else None
    )
    assert response.status_code == 302 and response["Location"].startswith("/accounts/sign-in/")
    nudge.refresh_from_db()
    assert nudge.reviewed_at is None and nudge.status == "failed"
    assert Nudge.objects.count() == 1


def test_a_one_off_without_csrf_is_refused(staff, consenting_patient):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(staff)
    response = client.post(
        f"/nudges/patient/{consenting_patient.pk}/send/", {"channel": "email", "message": "Hi"}
    )
    assert response.status_code == 403
    assert not Nudge.objects.exists()


# --- The outbox as CSV ----------------------------------------------------------------------------


def outbox_csv(client, query=""):
    response = client.get(f"/nudges/export.csv{query}")
    assert response.status_code == 200 and response["Content-Type"] == "text/csv; charset=utf-8"
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def test_the_outbox_downloads_as_filtered_with_no_message_text_or_links(client_for, staff, mixed_outbox):
    mixed_outbox["sent_email"].body_text = "Hi Renée https://crm.example/checkin/SECRET-TOKEN/"
    mixed_outbox["sent_email"].subject = "=cmd|' /C calc'!A0"
    mixed_outbox["sent_email"].save()
    client = client_for(staff)

    everything = outbox_csv(client)
    assert len(everything) == Nudge.objects.count()
    assert all("SECRET-TOKEN" not in value for row in everything for value in row.values())
    sent = next(row for row in everything if row["status"] == "Sent")
    assert sent["subject"] == "'=cmd|' /C calc'!A0"  # never a formula
    assert sent["patient"] == "Renée Côté" and sent["due (clinic time)"] == "2027-06-01 11:00"

    failed = outbox_csv(client, "?status=failed")
    assert [(row["status"], row["why"]) for row in failed] == [("Failed", "bad number")]


def test_the_outbox_download_is_audited_as_an_export_of_the_patients_it_names(
    client_for, staff, mixed_outbox
):
    outbox_csv(client_for(staff), "?status=failed")
    event = AccessEvent.objects.get(action="export")
    assert event.object_repr == "outbox CSV" and event.detail == "status=failed"
    assert event.patient_ids == [mixed_outbox["failed_sms"].patient_id]


def test_the_outbox_links_its_download_with_its_filters(client_for, staff, mixed_outbox):
    body = page(client_for(staff), "/nudges/?channel=sms&view=all&page=1")
    assert 'href="/nudges/export.csv?channel=sms&amp;view=all"' in body  # the tab too, not the page


@time_machine.travel(NOON_NY, tick=False)
def test_each_row_shows_the_badge_its_template_writes_for_its_status(client_for, staff, consenting_patient):
    from django.template.loader import render_to_string

    shown = [
        make(consenting_patient, status, send_at=NOON_NY - timedelta(hours=n))
        for n, status in enumerate(["sent", "failed", "sent", "suppressed", "failed", "unknown"])
    ]
    body = page(client_for(staff), tab_url(consenting_patient, "messages"))
    for nudge in shown:
        row = re.search(rf'<li class="border-bottom py-2" id="nudge-{nudge.pk}">(.*?)</li>', body, re.S)
        assert row, nudge.status
        assert render_to_string("nudges/_status_badge.html", {"nudge": nudge}).strip() in row.group(1)
