"""``patient_get_for`` scopes by its user: every active clinic role opens every record (archived ones too);
anyone else gets a 404 like an unknown patient, and the refusal lands in the audit trail as ``denied``."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.http import Http404
from django.test import RequestFactory

from accounts.audit import request_context
from accounts.models import AccessEvent
from patients.selectors import patient_get_for
from tests.factories import PatientFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def patient():
    return PatientFactory(first_name="Renée", last_name="Côté")


@pytest.mark.parametrize("role", ["staff", "practitioner", "admin_user"])
@pytest.mark.parametrize("archived", [False, True])
def test_every_active_clinic_role_opens_every_record_and_the_read_is_audited(
    request, patient, role, archived
):
    user = request.getfixturevalue(role)
    patient.archived = archived
    patient.save(update_fields=["archived"])

    assert patient_get_for(user=user, pk=patient.pk) == patient

    event = AccessEvent.objects.get()
    assert (event.action, event.actor, event.patient_id) == ("view", user, patient.pk)


def test_a_change_is_left_for_its_service_to_audit(staff, patient):
    assert patient_get_for(user=staff, pk=patient.pk, action=AccessEvent.Action.UPDATE) == patient
    assert not AccessEvent.objects.exists()


@pytest.mark.parametrize(
    "make_user",
    [
        pytest.param(lambda: UserFactory(role="practitioner", is_active=False), id="inactive practitioner"),
        pytest.param(lambda: UserFactory(role="staff", is_active=False), id="inactive staff"),
        pytest.param(lambda: UserFactory(role=""), id="no clinic role"),
    ],
)
@pytest.mark.parametrize("action", [AccessEvent.Action.VIEW, AccessEvent.Action.UPDATE])
def test_a_user_out_of_scope_gets_a_404_and_the_refusal_is_audited(patient, make_user, action):
    user = make_user()
    request = RequestFactory().get(f"/patients/{patient.pk}/", REMOTE_ADDR="10.1.2.3")
    request.user = user

    with request_context(request), pytest.raises(Http404):
        patient_get_for(user=user, pk=patient.pk, action=action)

    event = AccessEvent.objects.get()
    assert (event.action, event.actor, event.patient_id, event.object_id) == (
        "denied",
        user,
        patient.pk,
        str(patient.pk),
    )
    assert (event.detail, event.ip_address) == ("patient record refused: no active clinic role", "10.1.2.3")


def test_an_anonymous_visitor_gets_a_404_and_an_anonymous_denied_row(patient):
    with pytest.raises(Http404):
        patient_get_for(user=AnonymousUser(), pk=patient.pk)
    event = AccessEvent.objects.get()
    assert (event.action, event.actor, event.patient_id) == ("denied", None, patient.pk)


def test_an_unknown_patient_is_a_plain_404_with_nothing_to_audit(staff):
    inactive = UserFactory(role="staff", is_active=False)
    for user in (staff, inactive):
        with pytest.raises(Http404):
            patient_get_for(user=user, pk=999999)
    assert not AccessEvent.objects.exists()
