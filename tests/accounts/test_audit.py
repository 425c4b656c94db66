import pytest
from django.forms.models import model_to_dict
from django.test import RequestFactory

from accounts.audit import record_access, request_context
from accounts.chain import row_hash
from accounts.models import AccessEvent


def test_record_access_writes_who_what_which_patient_when_and_from_where(practitioner):
    request = RequestFactory().get("/patients/42/", REMOTE_ADDR="10.1.2.3", HTTP_USER_AGENT="Firefox")
    request.user = practitioner
    with request_context(request):
        event = record_access(action=AccessEvent.Action.VIEW, patient_id=42, obj=practitioner)

    stored = AccessEvent.objects.get(pk=event.pk)
    assert stored.actor == practitioner
    assert stored.action == "view"
    assert stored.patient_id == 42
    assert stored.object_type.model == "user"
    assert stored.object_id == str(practitioner.pk)
    assert stored.ip_address == "10.1.2.3"
    assert stored.user_agent == "Firefox"
    assert stored.path == "/patients/42/"
    assert stored.at is not None


def test_forwarded_address_is_trusted_only_when_configured(practitioner, settings):
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.9")
    request.user = practitioner
    with request_context(request):
        assert record_access(action="view").ip_address == "10.0.0.1"
    settings.TRUSTED_PROXY_HOPS = 1
    with request_context(request):
        assert record_access(action="view").ip_address == "203.0.113.9", "the right-most, not the forged one"


def test_a_patient_link_is_recorded_without_a_user(db):
    event = record_access(action="update", patient_id=7, actor_label="patient via check-in link")
    assert event.actor is None
    assert event.actor_label == "patient via check-in link"


def test_the_trail_cannot_be_changed_or_deleted_in_code(practitioner):
    event = record_access(action="view", actor=practitioner, patient_id=1)
    event.action = "delete"
    with pytest.raises(PermissionError, match="append-only"):
        event.save()
    with pytest.raises(PermissionError, match="append-only"):
        event.delete()
    with pytest.raises(PermissionError, match="append-only"):
        AccessEvent.objects.filter(pk=event.pk).update(action="delete")
    with pytest.raises(PermissionError, match="append-only"):
        AccessEvent.objects.all().delete()
    assert AccessEvent.objects.get(pk=event.pk).action == "view"


def test_the_trail_is_read_only_in_admin(client_for, admin_user, practitioner):
    event = record_access(action="view", actor=practitioner, patient_id=1)
    client = client_for(admin_user)

    assert client.get("/admin/accounts/accessevent/").status_code == 200
    assert client.get(f"/admin/accounts/accessevent/{event.pk}/change/").status_code == 200  # view only
    assert client.get("/admin/accounts/accessevent/add/").status_code == 403
    assert (
        client.post(f"/admin/accounts/accessevent/{event.pk}/change/", {"action": "delete"}).status_code
        == 403
    )
    assert client.post(f"/admin/accounts/accessevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    response = client.post(
        "/admin/accounts/accessevent/",
        {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"},
    )
    assert AccessEvent.objects.filter(pk=event.pk, action="view").exists()
    assert response.status_code in (200, 302)


def test_reading_the_trail_in_admin_is_itself_on_the_trail(client_for, admin_user, practitioner):
    one = record_access(action="view", actor=practitioner, patient_id=7)
    listed = record_access(action="list", actor=practitioner, patient_ids=[8, 9])
    client = client_for(admin_user)

    assert client.get("/admin/accounts/accessevent/", {"action__exact": "view"}).status_code == 200
    read = AccessEvent.objects.order_by("-seq").first()
    assert (read.action, read.actor, read.detail) == ("list", admin_user, "action__exact=view")
    assert read.patient_ids == [7]
    assert read.object_repr == "access events in admin (the audit trail)"

    assert client.get(f"/admin/accounts/accessevent/{listed.pk}/change/").status_code == 200
    read = AccessEvent.objects.order_by("-seq").first()
    assert (read.action, read.actor, read.object_id) == ("view", admin_user, str(listed.pk))
    assert (read.patient_id, read.patient_ids) == (None, [8, 9])

    assert client.get(f"/admin/accounts/accessevent/{one.pk}/change/").status_code == 200
    read = AccessEvent.objects.order_by("-seq").first()
    assert (read.action, read.patient_id) == ("view", 7)


def test_a_row_reads_back_field_for_field_as_it_was_chained(practitioner):
    """record_access writes its row with one hand-written INSERT (not Model.save()): every field, the JSON list
    of ids and the hash included, reads back as the event it returned, and the row verifies."""
    request = RequestFactory().get("/patients/?q=é", REMOTE_ADDR="2001:db8::1", HTTP_USER_AGENT="Safari ‘x’")
    request.user = practitioner
    with request_context(request):
        event = record_access(
            action=AccessEvent.Action.LIST,
            patient_ids=[3, 1, 3, 2],
            obj=practitioner,
            detail="q=<b>é</b>",
            object_repr="patient list",
        )

    stored = AccessEvent.objects.get(pk=event.pk)
    assert not event._state.adding
    assert model_to_dict(stored) == model_to_dict(event)
    assert (stored.at, stored.seq, stored.hash) == (event.at, event.seq, event.hash)
    assert stored.patient_ids == [3, 1, 2]
    assert stored.hash == row_hash(stored)
    following = record_access(action="view", patient_id=1)
    assert (following.seq, following.prev_hash) == (event.seq + 1, event.hash)
