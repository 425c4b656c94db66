from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError

from accounts.models import AccessEvent
from journeys.models import VisitNote
from journeys.services.notes import note_add_addendum, note_create, note_sign, note_update
from journeys.services.visits import visit_schedule
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 4, 14, 16, 0, tzinfo=UTC)
STORY = "Ten years of fatigue; three doctors said it was stress."


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


def make_visit(practitioner, kind):
    with time_machine.travel(NOW - timedelta(days=7), tick=False):
        return visit_schedule(
            patient=PatientFactory(first_name="Ana", last_name="Silva"),
            practitioner=practitioner,
            kind=kind,
            starts_at=NOW - timedelta(hours=2),
            actor=practitioner,
        )


@pytest.fixture
def intake(practitioner):
    return make_visit(practitioner, "intake")


@pytest.fixture
def follow_up(practitioner):
    return make_visit(practitioner, "follow_up")


@pytest.fixture
def note(follow_up, practitioner):
    return note_create(
        visit=follow_up, author=practitioner, title="Follow-up", body="SECRET-BODY: sleeping better"
    )


def signed(note, practitioner):
    return note_sign(note=note, actor=practitioner)


def audit(action, obj):
    return AccessEvent.objects.filter(action=action, object_id=str(obj.pk), object_repr=str(obj))


# --- The service ----------------------------------------------------------------------------------


def test_an_intake_note_keeps_the_patients_story_in_its_sections(intake, practitioner):
    note = note_create(
        visit=intake,
        author=practitioner,
        title="Intake",
        sections={"story": f"  {STORY} ", "tried": "Elimination diet", "fears": "", "goals": "Hike again"},
    )
    note.refresh_from_db()
    assert note.sections == {"story": STORY, "tried": "Elimination diet", "goals": "Hike again"}
    assert (note.body, note.signed_at, note.author) == ("", None, practitioner)
    assert audit("create", note).get().actor == practitioner


def test_sections_belong_to_intake_visits_only(follow_up, practitioner):
    with pytest.raises(ValidationError, match="intake visits only"):
        note_create(visit=follow_up, author=practitioner, title="x", sections={"story": STORY})


def test_an_unknown_section_or_an_empty_note_is_refused(intake, practitioner):
    with pytest.raises(ValidationError, match="Unknown intake section: dreams"):
        note_create(visit=intake, author=practitioner, title="x", sections={"dreams": "…"})
    with pytest.raises(ValidationError, match="The note is empty"):
        note_create(visit=intake, author=practitioner, title="x", body="  ")
    with pytest.raises(ValidationError, match="Give the note a title"):
        note_create(visit=intake, author=practitioner, title=" ", body="b")
    assert not VisitNote.objects.exists()


def test_staff_cannot_write_notes(follow_up, staff):
    with pytest.raises(ValidationError, match="Only practitioners and admins"):
        note_create(visit=follow_up, author=staff, title="x", body="y")


def test_the_author_edits_an_unsigned_note(note, practitioner):
    note_update(note=note, actor=practitioner, title="Follow-up, week 3", body="Sleeping much better")
    note.refresh_from_db()
    assert (note.title, note.body) == ("Follow-up, week 3", "Sleeping much better")
    assert audit("update", note).get().detail == "note edited"


def test_only_the_author_edits_or_signs(note, other_practitioner, admin_user):
    for colleague in (other_practitioner, admin_user):
        with pytest.raises(ValidationError, match="Only the note's author"):
            note_update(note=note, actor=colleague, title="mine now", body="x")
        with pytest.raises(ValidationError, match="Only the note's author"):
            note_sign(note=note, actor=colleague)
    note.refresh_from_db()
    assert (note.title, note.signed_at) == ("Follow-up", None)


def test_a_signed_note_never_changes(note, practitioner):
    signed(note, practitioner)
    with pytest.raises(ValidationError) as refused:
        note_update(note=note, actor=practitioner, title="changed", body="changed")
    assert refused.value.code == "signed"
    assert "signed on 14 Apr 2026 at 12:00 and can no longer change" in refused.value.messages[0]
    assert "Add an addendum" in refused.value.messages[0]
    with pytest.raises(ValidationError, match="can no longer change"):
        note_sign(note=note, actor=practitioner)
    note.refresh_from_db()
    assert (note.title, note.body, note.signed_at) == ("Follow-up", "SECRET-BODY: sleeping better", NOW)


def test_addenda_correct_a_signed_note_and_are_signable(note, practitioner, other_practitioner):
    with pytest.raises(ValidationError, match="not signed yet"):
        note_add_addendum(note=note, author=practitioner, body="too early")
    signed(note, practitioner)
    addendum = note_add_addendum(note=note, author=other_practitioner, body="Dose was 200 mg, not 400 mg.")
    assert (addendum.addendum_to, addendum.visit, addendum.signed_at) == (note, note.visit, None)
    assert addendum.title == "Addendum to “Follow-up”"
    note_sign(note=addendum, actor=other_practitioner)
    addendum.refresh_from_db()
    assert addendum.is_signed
    again = note_add_addendum(note=addendum, author=practitioner, body="And taken at night.", sign=True)
    assert again.addendum_to == note and again.is_signed  # addenda hang on the original note
    with pytest.raises(ValidationError, match="addendum is empty"):
        note_add_addendum(note=note, author=practitioner, body=" ")


# --- The pages ------------------------------------------------------------------------------------


def test_staff_are_refused_the_note_text_and_the_refusal_is_audited(client_for, staff, note):
    response = client_for(staff).get(f"/visit-notes/{note.pk}/", REMOTE_ADDR="10.1.2.3")
    assert response.status_code == 403
    assert "SECRET-BODY" not in response.text
    event = AccessEvent.objects.get(action="denied")
    assert (event.actor, event.patient_id, event.object_id) == (staff, note.visit.patient_id, str(note.pk))
    assert (event.detail, event.ip_address) == ("note text refused to staff", "10.1.2.3")
    assert not AccessEvent.objects.filter(action="view", object_id=str(note.pk), actor=staff).exists()


def test_staff_are_refused_every_note_page(client_for, staff, note, follow_up):
    client = client_for(staff)
    for url in (
        f"/visits/{follow_up.pk}/notes/new/",
        f"/visit-notes/{note.pk}/edit/",
        f"/visit-notes/{note.pk}/addendum/",
    ):
        assert client.get(url).status_code == 403, url
    assert client.post(f"/visit-notes/{note.pk}/sign/").status_code == 403
    note.refresh_from_db()
    assert note.signed_at is None


@pytest.mark.parametrize("role", ["practitioner", "other_practitioner", "admin_user"])
def test_clinicians_read_notes_and_each_read_is_audited(request, client_for, note, role):
    reader = request.getfixturevalue(role)
    response = client_for(reader).get(f"/visit-notes/{note.pk}/")
    assert response.status_code == 200 and "SECRET-BODY: sleeping better" in response.text
    event = AccessEvent.objects.get(action="view", object_id=str(note.pk), object_repr="Follow-up")
    assert (event.actor, event.patient_id) == (reader, note.visit.patient_id)


def test_anonymous_visitors_are_sent_to_sign_in(client, note, follow_up):
    for url in (
        f"/visit-notes/{note.pk}/",
        f"/visit-notes/{note.pk}/edit/",
        f"/visits/{follow_up.pk}/notes/new/",
    ):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/sign-in/"), url
    assert not AccessEvent.objects.filter(action__in=["view", "denied"]).exists()


def test_writing_an_intake_note_from_the_page(client_for, practitioner, intake):
    client = client_for(practitioner)
    form = client.get(f"/visits/{intake.pk}/notes/new/")
    assert "The patient&#x27;s story, in their words" in form.text and "What they fear" in form.text
    response = client.post(
        f"/visits/{intake.pk}/notes/new/",
        {"title": "Intake", "section_story": STORY, "section_goals": "Hike again", "body": ""},
    )
    note = VisitNote.objects.get()
    assert response["Location"] == f"/visit-notes/{note.pk}/"
    assert note.sections == {"story": STORY, "goals": "Hike again"} and not note.is_signed
    page = client.get(response["Location"])
    assert STORY in page.text and "What they hope for" in page.text


def test_a_follow_up_note_form_has_no_intake_sections(client_for, practitioner, follow_up):
    assert "section_story" not in client_for(practitioner).get(f"/visits/{follow_up.pk}/notes/new/").text


def test_save_and_sign_saves_then_asks_to_confirm_that_signing_locks_it(client_for, practitioner, follow_up):
    client = client_for(practitioner)
    response = client.post(
        f"/visits/{follow_up.pk}/notes/new/", {"title": "Week 2", "body": "Better", "sign": "yes"}
    )
    note = VisitNote.objects.get()
    assert response["Location"] == f"/visit-notes/{note.pk}/sign/"
    assert not note.is_signed  # saved, not signed yet

    confirm = client.get(response["Location"])
    assert "Signing locks this note." in confirm.text and "Better" in confirm.text
    assert 'name="confirm" value="yes"' in confirm.text

    client.post(f"/visit-notes/{note.pk}/sign/", {"confirm": "yes"})
    note.refresh_from_db()
    assert note.signed_at == NOW


def test_editing_and_signing_goes_through_the_same_confirmation(client_for, practitioner, note):
    response = client_for(practitioner).post(
        f"/visit-notes/{note.pk}/edit/", {"title": "Follow-up", "body": "Sleeping much better", "sign": "yes"}
    )
    assert response["Location"] == f"/visit-notes/{note.pk}/sign/"
    note.refresh_from_db()
    assert note.body == "Sleeping much better" and not note.is_signed


# --- A note is signed only once its visit has begun -------------------------------------------------


@pytest.fixture
def upcoming(practitioner):
    """A follow-up booked for 4 Dec, and the practitioner's draft note on it (written on 1 Dec)."""
    visit = visit_schedule(
        patient=PatientFactory(first_name="Lena", last_name="Park"),
        practitioner=practitioner,
        kind="follow_up",
        starts_at=NOW + timedelta(days=3),
        actor=practitioner,
    )
    return note_create(visit=visit, author=practitioner, title="Prep", body="Questions to ask")


def test_a_note_cannot_be_signed_before_its_visit_begins(upcoming, practitioner):
    visit = upcoming.visit
    for sign in (
        lambda: note_sign(note=upcoming, actor=practitioner),
        lambda: note_update(note=upcoming, actor=practitioner, title="Prep", body="Changed", sign=True),
        lambda: note_create(visit=visit, author=practitioner, title="Early", body="x", sign=True),
    ):
        with pytest.raises(ValidationError) as refused:
            sign()
        assert refused.value.code == "visit_not_begun"
        assert "a note can be signed once the visit has begun" in refused.value.messages[0]
    upcoming.refresh_from_db()
    assert (upcoming.body, upcoming.signed_at) == ("Questions to ask", None)
    assert VisitNote.objects.filter(visit=visit).count() == 1

    with time_machine.travel(visit.starts_at, tick=False):  # the visit begins: now it can be signed
        assert note_sign(note=upcoming, actor=practitioner).signed_at == visit.starts_at


def test_the_pages_offer_no_signing_before_the_visit_and_refuse_a_forced_one(
    client_for, practitioner, upcoming
):
    client = client_for(practitioner)
    detail = client.get(f"/visit-notes/{upcoming.pk}/").text
    assert f"/visit-notes/{upcoming.pk}/sign/" not in detail and "Signable once the visit begins" in detail
    form = client.get(f"/visit-notes/{upcoming.pk}/edit/").text
    assert 'name="sign"' not in form and "sign it once the visit has begun" in form
    confirm = client.get(f"/visit-notes/{upcoming.pk}/sign/").text
    assert (
        'name="confirm"' not in confirm and "it can be\n          signed once the visit has begun" in confirm
    )

    response = client.post(f"/visit-notes/{upcoming.pk}/sign/", {"confirm": "yes"}, follow=True)
    assert "a note can be signed once the visit has begun" in response.text
    upcoming.refresh_from_db()
    assert upcoming.signed_at is None


def test_only_the_author_opens_the_signing_step(client_for, other_practitioner, note):
    assert client_for(other_practitioner).get(f"/visit-notes/{note.pk}/sign/").status_code == 403
    assert (
        client_for(other_practitioner).post(f"/visit-notes/{note.pk}/sign/", {"confirm": "yes"}).status_code
        == 403
    )
    note.refresh_from_db()
    assert not note.is_signed


def test_an_empty_note_gets_a_clear_message_and_saves_nothing(client_for, practitioner, intake):
    response = client_for(practitioner).post(f"/visits/{intake.pk}/notes/new/", {"title": "Intake"})
    assert response.status_code == 200
    assert "The note is empty: write what happened before saving it." in response.text
    assert not VisitNote.objects.exists()


def test_the_edit_page_is_refused_once_signed_and_changes_nothing(client_for, practitioner, note):
    client = client_for(practitioner)
    assert client.get(f"/visit-notes/{note.pk}/edit/").status_code == 200
    signed(note, practitioner)
    response = client.get(f"/visit-notes/{note.pk}/edit/", follow=True)
    assert response.redirect_chain == [(f"/visit-notes/{note.pk}/", 302)]
    assert "This note is signed and can no longer change" in response.text
    assert 'id="note-form"' not in response.text
    stale = client.post(f"/visit-notes/{note.pk}/edit/", {"title": "changed", "body": "changed"})
    assert "can no longer change" in stale.text
    note.refresh_from_db()
    assert (note.title, note.body) == ("Follow-up", "SECRET-BODY: sleeping better")


def test_a_colleague_cannot_edit_someone_elses_note(client_for, other_practitioner, note):
    client = client_for(other_practitioner)
    assert client.get(f"/visit-notes/{note.pk}/edit/").status_code == 403
    assert client.post(f"/visit-notes/{note.pk}/edit/", {"title": "x", "body": "y"}).status_code == 403
    note.refresh_from_db()
    assert note.title == "Follow-up"


def test_adding_an_addendum_from_the_page(client_for, practitioner, note):
    client = client_for(practitioner)
    signed(note, practitioner)
    response = client.post(f"/visit-notes/{note.pk}/addendum/", {"body": "Dose was 200 mg.", "sign": "yes"})
    addendum = VisitNote.objects.get(addendum_to=note)
    assert response["Location"] == f"/visit-notes/{note.pk}/#note-{addendum.pk}"
    assert addendum.is_signed
    page = client.get(f"/visit-notes/{note.pk}/")
    assert "Dose was 200 mg." in page.text and "SECRET-BODY" in page.text


def test_signing_from_the_page_needs_its_confirmation(client_for, practitioner, note):
    client = client_for(practitioner)
    detail = client.get(f"/visit-notes/{note.pk}/").text
    assert f'href="/visit-notes/{note.pk}/sign/"' in detail

    unconfirmed = client.post(f"/visit-notes/{note.pk}/sign/", follow=True)
    assert "The note was not signed: confirm below that signing locks it." in unconfirmed.text
    note.refresh_from_db()
    assert not note.is_signed

    response = client.post(f"/visit-notes/{note.pk}/sign/", {"confirm": "yes"}, follow=True)
    assert "Note signed" in response.text
    note.refresh_from_db()
    assert note.signed_at == NOW
    again = client.post(f"/visit-notes/{note.pk}/sign/", {"confirm": "yes"}, follow=True)
    assert "can no longer change" in again.text


def test_note_text_is_escaped(client_for, practitioner, follow_up):
    note = note_create(visit=follow_up, author=practitioner, title="<b>t</b>", body="<script>x()</script>")
    response = client_for(practitioner).get(f"/visit-notes/{note.pk}/")
    assert "<script>x()</script>" not in response.text and "&lt;script&gt;" in response.text
