"""Deny by default, proven over the whole URLconf: every pattern is in ``url_table.URLS`` and answers each
kind of visitor exactly as listed there, with its path filled with real objects; every page that shows
patient data writes to the audit trail; every ModelAdmin that shows patient data audits its changelist."""

from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.contrib import admin
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from accounts.admin import PatientAuditMixin
from accounts.models import AccessEvent
from compliance.models import Alert
from journeys.intake_services import agreements_to_sign, intake_send, intake_submit
from journeys.models import Blueprint, BlueprintItem, CheckIn, Journey, Program, Stage
from journeys.services.notes import note_create
from journeys.services.visits import visit_schedule
from journeys.tokens import checkin_token, intake_token
from nudges.models import Nudge
from nudges.tokens import unsubscribe_token
from patients.models import ConsentRequest
from patients.models import Testimonial as PatientTestimonial
from patients.services import care_team_add, care_team_set_lead
from patients.tokens import consent_confirm_token
from tests.factories import PatientFactory, UserFactory

from .url_table import LOGIN, URLS

ROLES = ("anonymous", "staff", "practitioner", "admin")


def walk(resolver, prefix="", namespace=None):
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            yield from walk(entry, prefix + str(entry.pattern), entry.namespace or namespace)
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), f"{namespace}:{entry.name}" if namespace else entry.name


def site_patterns():
    return [(route, name) for route, name in walk(get_resolver()) if not route.startswith("admin/")]


def test_every_url_pattern_is_in_the_table():
    names = [name for _, name in site_patterns()]
    assert None not in names, "every URL pattern needs a name to be listed in tests/accounts/url_table.py"
    missing = sorted(set(names) - set(URLS))
    assert not missing, f"add these to tests/accounts/url_table.py: {missing}"
    assert not sorted(set(URLS) - set(names)), "the table lists URLs that no longer exist"


@dataclass
class Scenario:
    patient: object
    journey: object
    version: int
    item: object
    member: object
    visit: object
    note: object
    checkin: object
    alert: object
    nudge: object
    checkin_token: str
    unsubscribe_token: str
    consent_token: str
    intake_token: str
    intake_signature: object
    intake_section: int = 1
    insights_table: str = "funnel"
    # allauth's links carry keys of their own: a made-up one is what a stale or forged link brings
    email_key: str = "not-a-key"
    uidb36: str = "zz"
    reset_key: str = "not-a-key"
    patient_tab: str = "messages"  # a tab of the patient page (dashboard.patient_page.PATIENT_TABS)
    testimonial: object = None


def build_scenario(*, practitioner, staff) -> Scenario:
    patient = PatientFactory(first_name="Renée", last_name="Côté")
    care_team_set_lead(patient=patient, user=practitioner, actor=staff)
    member = care_team_add(patient=patient, actor=staff, role="health_coach", user=staff)
    program = Program.objects.create(name=f"Reset for {patient.pk}", weeks=12)
    journey = Journey.objects.create(patient=patient, program=program, stage=Stage.CHECK_INS)
    blueprint = Blueprint.objects.create(
        journey=journey, version=1, status="published", created_by=practitioner, published_at=timezone.now()
    )
    item = BlueprintItem.objects.create(blueprint=blueprint, kind="supplement", title="Magnesium", position=0)
    visit = visit_schedule(
        patient=patient,
        practitioner=practitioner,
        kind="follow_up",
        starts_at=timezone.now() + timedelta(days=2),
        actor=staff,
        journey=journey,
    )
    note = note_create(visit=visit, author=practitioner, title="Follow-up", body="Sleeping better")
    checkin = CheckIn.objects.create(
        journey=journey,
        due_on=timezone.localdate(),
        closes_at=timezone.now() + timedelta(days=2),
        status=CheckIn.Status.SCHEDULED,
    )
    alert = Alert.objects.create(patient=patient, journey=journey, reason="low_adherence", detail="2 weeks")
    nudge = Nudge.objects.create(
        patient=patient,
        kind="checkin_request",
        channel="email",
        send_at=timezone.now(),
        status=Nudge.Status.FAILED,
        dedupe_key=f"url-table:{patient.pk}",
    )
    consent_request = ConsentRequest.objects.create(
        patient=patient, channel="email", address=patient.email or "renee@example.com", via="inquiry form"
    )
    intake = intake_send(patient=patient, journey=journey, actor=staff)
    intake_submit(
        response=intake, signed_name="Renée Côté", agreed={a.pk: a.version for a in agreements_to_sign()}
    )
    return Scenario(
        patient=patient,
        journey=journey,
        version=blueprint.version,
        item=item,
        member=member,
        visit=visit,
        note=note,
        checkin=checkin,
        alert=alert,
        nudge=nudge,
        checkin_token=checkin_token(checkin.pk),
        unsubscribe_token=unsubscribe_token(patient_id=patient.pk, nudge_id=nudge.pk),
        consent_token=consent_confirm_token(consent_request.pk),
        intake_token=intake_token(intake.pk),
        intake_signature=intake.signatures.first(),
        testimonial=PatientTestimonial.objects.create(
            patient=patient, words="They listened.", places=["website"]
        ),
    )


@pytest.fixture
def scenario(practitioner, staff):
    return build_scenario(practitioner=practitioner, staff=staff)


def url_of(name: str, scenario: Scenario) -> str:
    kwargs = {}
    for param, what in URLS[name].args.items():
        value = getattr(scenario, what)
        kwargs[param] = value if isinstance(value, (int, str)) else value.pk
    return reverse(name, kwargs=kwargs)


def answer(response) -> int | str:
    if response.status_code == 302 and response["Location"].startswith(reverse("accounts:login") + "?next="):
        return LOGIN
    return response.status_code


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(URLS))
def test_each_url_answers_each_role_as_the_table_says_and_audits_what_it_shows(
    client, name, scenario, staff, practitioner, admin_user
):
    users = {"anonymous": None, "staff": staff, "practitioner": practitioner, "admin": admin_user}
    row, url = URLS[name], url_of(name, scenario)
    got = {}
    for role in ROLES:
        client.logout()
        if users[role] is not None:
            client.force_login(users[role])
        before = AccessEvent.objects.count()
        got[role] = answer(client.get(url))
        if row.audited and got[role] == 200:
            assert AccessEvent.objects.count() > before, f"{role} read {url} and the audit trail has no row"
    assert got == {role: row.expected(role) for role in ROLES}, f"{url}: {got}"


def test_the_walk_reaches_the_dashboard_pages():
    assert {"dashboard:today", "dashboard:pipeline", "dashboard:insights", "patients:list"} <= set(URLS)


# --- Django admin -------------------------------------------------------------------------------------

NO_PATIENT_DATA = {
    "accounts.User",
    "journeys.Program",
    "journeys.BlueprintTemplate",
    "journeys.WorkingHours",  # practitioners' hours and time off: no patient in them
    "journeys.TimeOff",
    "journeys.Questionnaire",  # the intake questionnaire's versions and agreements: the clinic's wording
    "journeys.QuestionnaireSection",
    "journeys.Agreement",
    "nudges.MessageTemplate",
    "nudges.NudgeRule",
    "compliance.ClinicSettings",
    "api.ApiKey",  # keys, endpoints and deliveries carry event names and ids, no patient's details
    "api.WebhookEndpoint",
    "api.WebhookDelivery",
    "auth.Group",
    "axes.AccessAttempt",
    "axes.AccessFailureLog",
    "axes.AccessLog",
    "account.EmailAddress",  # allauth: clinic users' own sign-in addresses
}


def registered():
    for model, model_admin in admin.site._registry.items():
        yield f"{model._meta.app_label}.{model.__name__}", model, model_admin


def test_every_admin_that_shows_patient_data_audits_its_reads():
    unaudited = [
        label
        for label, _, model_admin in registered()
        if label not in NO_PATIENT_DATA and not isinstance(model_admin, PatientAuditMixin)
    ]
    assert not unaudited, f"use accounts.admin.PatientAuditMixin (or list as no patient data): {unaudited}"


@pytest.mark.django_db
def test_every_audited_changelist_writes_one_list_row_with_the_patients_on_the_page(
    client_for, admin_user, scenario, django_assert_max_num_queries
):
    client = client_for(admin_user)
    for label, model, model_admin in registered():
        if not isinstance(model_admin, PatientAuditMixin):
            continue
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        before = AccessEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0
        response = client.get(url, {"o": "1"})
        assert response.status_code == 200, label
        rows = list(AccessEvent.objects.filter(seq__gt=before))
        assert [row.action for row in rows] == ["list"], label
        shown = [model_admin._patient_id(obj) for obj in response.context["cl"].result_list]
        assert rows[0].patient_ids == list(dict.fromkeys(pk for pk in shown if pk is not None)), label
        assert rows[0].detail == "o=1"


@pytest.mark.django_db
def test_an_admin_change_page_read_writes_a_view_row(client_for, admin_user, scenario):
    response = client_for(admin_user).get(reverse("admin:journeys_visitnote_change", args=[scenario.note.pk]))
    assert response.status_code == 200
    event = AccessEvent.objects.order_by("-seq").first()
    assert (event.action, event.patient_id, event.object_id) == (
        "view",
        scenario.patient.pk,
        str(scenario.note.pk),
    )


# --- objects asked for under another patient's ---------------------------------------------------------


@pytest.fixture
def other(practitioner, staff):
    """A second patient's journey, item and care team member."""
    return build_scenario(practitioner=UserFactory(role="practitioner"), staff=staff)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "method", "inner"),
    [
        ("patients:care_team_remove", "post", "member_pk"),
        ("journeys:blueprint_item_edit", "get", "item_pk"),
        ("journeys:blueprint_item_remove", "post", "item_pk"),
        ("journeys:blueprint_item_move", "post", "item_pk"),
        ("journeys:blueprint_item_status", "post", "item_pk"),
    ],
)
def test_an_object_of_another_patient_is_refused_with_404_and_audited(
    client_for, practitioner, scenario, other, name, method, inner
):
    """The views that take two ids: the inner one (``inner``) belongs to another patient than the outer."""
    args = URLS[name].args
    foreign = args[inner]
    kwargs = {param: getattr(scenario, what).pk for param, what in args.items()}
    kwargs[inner] = getattr(other, foreign).pk
    response = getattr(client_for(practitioner), method)(reverse(name, kwargs=kwargs))

    assert response.status_code == 404
    denied = AccessEvent.objects.filter(action="denied").order_by("-seq").first()
    assert denied is not None
    assert (denied.actor, denied.patient_id) == (practitioner, other.patient.pk)
    assert denied.object_id == str(getattr(other, foreign).pk)
