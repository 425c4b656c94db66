"""The REST API: scoped keys (hashed, revocable, rate-limited), cursor pages, role rules, every call audited."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import AccessEvent
from api.models import ApiKey
from api.services import api_key_revoke, key_hash
from journeys.models import Inquiry, Visit
from nudges.models import Nudge
from tests.factories import PatientFactory


def test_keys_are_never_stored_in_clear(make_key):
    key, raw = make_key("patients:read")
    row = ApiKey.objects.values().get(pk=key.pk)
    assert raw not in str(row)
    assert row["hashed"] == key_hash(raw) and raw.startswith(f"ak_{key.prefix}_")


def test_a_call_without_a_key_or_with_an_unknown_one_is_refused_with_401(db, client, api_client):
    assert client.get("/api/v1/patients/").status_code == 401
    assert api_client("ak_00000000_nope").get("/api/v1/patients/").status_code == 401


def test_a_key_without_the_scope_is_refused_with_403_and_the_refusal_audited(
    make_key, api_client, full_patient
):
    key, raw = make_key("outbox:read")
    response = api_client(raw).get("/api/v1/patients/")
    assert response.status_code == 403
    assert "patients:read" in response.json()["detail"]
    denied = AccessEvent.objects.filter(action="denied").latest("seq")
    assert key.prefix in denied.actor_label


def test_a_revoked_key_is_refused_with_401(make_key, api_client, admin_user, full_patient):
    key, raw = make_key("patients:read")
    assert api_client(raw).get("/api/v1/patients/").status_code == 200
    api_key_revoke(key=key, actor=admin_user)
    assert api_client(raw).get("/api/v1/patients/").status_code == 401


def test_a_used_key_notes_when(make_key, api_client, full_patient):
    key, raw = make_key("patients:read")
    assert key.last_used_at is None
    api_client(raw).get(f"/api/v1/patients/{full_patient.pk}/")
    key.refresh_from_db()
    assert key.last_used_at is not None


def test_every_call_is_audited_with_the_patients_it_showed(make_key, api_client, full_patient):
    _, raw = make_key("patients:read")
    before = AccessEvent.objects.count()
    body = api_client(raw).get("/api/v1/patients/").json()
    assert [p["id"] for p in body["items"]] == [full_patient.pk]
    row = AccessEvent.objects.latest("seq")
    assert AccessEvent.objects.count() == before + 1
    assert (row.action, row.patient_ids, row.path) == ("list", [full_patient.pk], "/api/v1/patients/")
    api_client(raw).get(f"/api/v1/patients/{full_patient.pk}/journeys/")
    assert AccessEvent.objects.latest("seq").patient_id == full_patient.pk


def test_pagination_is_stable_while_rows_are_added(make_key, api_client, db):
    _, raw = make_key("patients:read")
    first = PatientFactory.create_batch(5)
    page = api_client(raw).get("/api/v1/patients/", {"limit": 2}).json()
    seen = [p["id"] for p in page["items"]]
    PatientFactory.create_batch(3)  # added while the client pages
    while page["next"]:
        page = api_client(raw).get("/api/v1/patients/", {"limit": 2, "cursor": page["next"]}).json()
        seen += [p["id"] for p in page["items"]]
    assert seen[:5] == [p.pk for p in first]
    assert len(seen) == len(set(seen)) == 8


def test_a_forged_cursor_is_bad_input(make_key, api_client, db):
    _, raw = make_key("patients:read", "schedule:read")
    assert api_client(raw).get("/api/v1/patients/", {"cursor": "!!"}).status_code == 400
    assert api_client(raw).get("/api/v1/visits/", {"day": "2026-12-01", "cursor": "WzFd"}).status_code == 400


def test_clinical_text_needs_the_clinical_scope(make_key, api_client, full_patient):
    _, plain = make_key("patients:read")
    _, clinical = make_key("patients:read", "clinical:read")
    url = f"/api/v1/patients/{full_patient.pk}/checkins/"
    answered = [c for c in api_client(plain).get(url).json()["items"] if c["status"] == "answered"]
    assert answered[0]["where_it_failed"] is None and answered[0]["ratings"]["energy"] == 4
    answered = [c for c in api_client(clinical).get(url).json()["items"] if c["status"] == "answered"]
    assert answered[0]["where_it_failed"] == "Too tired to cook"
    checkin = api_client(plain).get(f"/api/v1/checkins/{answered[0]['id']}/").json()
    assert checkin["status"] == "answered"


def test_journeys_give_the_stage_and_its_history(make_key, api_client, full_patient):
    _, raw = make_key("patients:read")
    (journey,) = api_client(raw).get(f"/api/v1/patients/{full_patient.pk}/journeys/").json()
    assert journey["stage"] == "check_ins"
    assert [h["to_stage"] for h in journey["history"]] == [
        "inquiry",
        "discovery",
        "intake",
        "commitment",
        "blueprint",
    ]
    detail = api_client(raw).get(f"/api/v1/patients/{full_patient.pk}/").json()
    assert detail["stage"] == "check_ins" and detail["email_consent"] and not detail["sms_consent"]


def test_visits_by_day_and_booking(make_key, api_client, full_patient, practitioner):
    _, reader = make_key("schedule:read")
    _, booker = make_key("schedule:write")
    visit = Visit.objects.filter(patient=full_patient, status="scheduled").get()
    day = timezone.localtime(visit.starts_at).date().isoformat()
    items = api_client(reader).get("/api/v1/visits/", {"day": day}).json()["items"]
    assert [v["id"] for v in items] == [visit.pk]
    starts = (visit.starts_at + timedelta(days=1)).replace(hour=15, minute=0, second=0, microsecond=0)
    body = {
        "patient_id": full_patient.pk,
        "practitioner_id": practitioner.pk,
        "kind": "follow_up",
        "starts_at": starts.isoformat(),
    }
    assert api_client(reader).post("/api/v1/visits/", body).status_code == 403
    response = api_client(booker).post("/api/v1/visits/", body)
    assert response.status_code in (201, 400), (
        response.content
    )  # 400 when outside working hours: a clear refusal
    if response.status_code == 201:
        assert Visit.objects.filter(pk=response.json()["id"], created_by__role="admin").exists()
    bad = api_client(booker).post("/api/v1/visits/", {**body, "kind": "séance"})
    assert bad.status_code == 400 and "kind of visit" in bad.json()["detail"]


def test_an_inquiry_is_the_forms_twin(make_key, api_client, db):
    _, raw = make_key("inquiries:write")
    body = {"first_name": "Ada", "last_name": "Byron", "email": "ada@example.com", "consent_email": True}
    response = api_client(raw).post("/api/v1/inquiries/", body)
    assert response.status_code == 201
    inquiry = Inquiry.objects.get(pk=response.json()["id"])
    assert inquiry.patient.email == "ada@example.com" and inquiry.consent_email
    for _ in range(6):  # the key's own rate limit applies, not the public form's five an hour
        assert api_client(raw).post("/api/v1/inquiries/", body).status_code == 201
    refused = api_client(raw).post("/api/v1/inquiries/", {"first_name": "A", "last_name": "B"})
    assert refused.status_code == 400 and "email address or a phone number" in refused.json()["detail"]


def test_outbox_status_never_shows_the_words(make_key, api_client, full_patient):
    _, raw = make_key("outbox:read")
    nudge = Nudge.objects.filter(patient=full_patient, status="sent").get()
    body = api_client(raw).get(f"/api/v1/outbox/{nudge.pk}/").json()
    assert body["status"] == "sent" and "body_text" not in body and "Where did" not in str(body)
    assert api_client(raw).get("/api/v1/outbox/99999999/").status_code == 404


def test_calls_past_the_keys_rate_are_refused_with_429(make_key, api_client, full_patient, settings):
    settings.API_RATE_PER_MINUTE = 3
    _, raw = make_key("patients:read")
    codes = [api_client(raw).get(f"/api/v1/patients/{full_patient.pk}/").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    _, other = make_key("patients:read", name="Other")
    assert api_client(other).get(f"/api/v1/patients/{full_patient.pk}/").status_code == 200


def test_the_docs_page_uses_vendored_assets_and_no_inline_script(client, db):
    html = client.get("/api/v1/docs/").content.decode()
    assert "cdn" not in html.lower()
    assert "/static/ninja/swagger-ui-bundle.js" in html
    import re

    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    assert all("src=" in attrs or 'type="application/json"' in attrs for attrs, _ in scripts)


def test_patient_list_queries_do_not_grow_with_the_page(
    make_key, api_client, db, django_assert_max_num_queries
):
    _, raw = make_key("patients:read")
    PatientFactory.create_batch(5)
    with django_assert_max_num_queries(12) as five:
        api_client(raw).get("/api/v1/patients/")
    PatientFactory.create_batch(45)
    with django_assert_max_num_queries(len(five.captured_queries)):
        assert len(api_client(raw).get("/api/v1/patients/").json()["items"]) == 50


@pytest.mark.parametrize("scope", ["patients:read"])
def test_a_huge_or_odd_id_is_bad_input_never_a_500(make_key, api_client, db, scope):
    _, raw = make_key(scope)
    assert api_client(raw).get(f"/api/v1/patients/{2**70}/").status_code == 422
    assert api_client(raw).get("/api/v1/patients/", {"q": "a\x00b"}).status_code == 400


@pytest.mark.parametrize("what", ["checkins", "journeys"])
def test_a_patients_lists_read_the_patient_by_key_alone_and_404_an_unknown_one(
    make_key, api_client, full_patient, what
):
    """The check-ins and journeys of a patient need only that the patient exists: not the detail endpoint's
    lead and consent subqueries (8 of them, most of the call's Python)."""
    _, raw = make_key("patients:read")
    with CaptureQueriesContext(connection) as queries:
        assert api_client(raw).get(f"/api/v1/patients/{full_patient.pk}/{what}/").status_code == 200
    (read,) = [q["sql"] for q in queries if ' FROM "patients_patient"' in q["sql"]]
    assert "careteam" not in read and "consent" not in read and "ORDER BY" not in read
    assert api_client(raw).get(f"/api/v1/patients/99999999/{what}/").status_code == 404
