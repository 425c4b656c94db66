"""accounts.queries.PlainModelIterable: the instances it makes by their ``__dict__`` are the ones
``ModelIterable`` makes by ``Model.__init__`` (the same attributes, state, annotations and behaviour), for
about a call a row instead of fifty; any read it cannot make so is ``ModelIterable``'s own."""

import cProfile
import pstats

import pytest
from django.db.models.query import ModelIterable
from django.db.models.signals import post_init

from accounts.queries import AnyOf, Compiled, PlainModelIterable
from patients import selectors
from patients.models import CareTeamMember, Patient
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


def made_by(iterable, queryset):
    queryset = queryset._chain()
    queryset._iterable_class = iterable
    return list(queryset)


def described(obj):
    state = obj._state
    return (
        type(obj),
        {name: value for name, value in vars(obj).items() if name != "_state"},
        (state.adding, state.db, state.fetch_mode),
    )


@pytest.fixture
def patients(practitioner):
    made = PatientFactory.create_batch(4)
    made.append(PatientFactory(preferred_name="<Bob>", referred_by=made[0], archived=True))
    CareTeamMember.objects.create(patient=made[1], user=practitioner, role="lead")
    return made


def test_the_instances_are_the_ones_model_init_makes(patients):
    rows = Patient.objects.with_lead().with_consent().order_by("pk")
    theirs, ours = made_by(ModelIterable, rows), made_by(PlainModelIterable, rows)
    assert [described(obj) for obj in ours] == [described(obj) for obj in theirs]
    assert list(vars(ours[0])) == list(vars(theirs[0]))  # in the same order, too
    assert ours[1].lead_name == "Dr. Bob Moss" and ours[4].referred_by == patients[0]
    assert ours[4].display_name == theirs[4].display_name and ours == theirs


def test_a_plain_instance_saves_as_an_update_and_refreshes(patients):
    (patient,) = made_by(PlainModelIterable, Patient.objects.filter(pk=patients[2].pk))
    patient.pronouns = "they/them"
    patient.save(update_fields=["pronouns"])
    assert Patient.objects.count() == len(patients)
    patient.refresh_from_db()
    assert patient.pronouns == "they/them"


def test_reads_it_cannot_make_plainly_are_model_iterables(patients):
    for rows in (
        Patient.objects.select_related("referred_by").order_by("pk"),
        Patient.objects.only("first_name").order_by("pk"),
        Patient.objects.defer("email").order_by("pk"),
    ):
        theirs, ours = made_by(ModelIterable, rows), made_by(PlainModelIterable, rows)
        assert [described(obj) for obj in ours] == [described(obj) for obj in theirs]

    seen = []

    def receiver(sender, instance, **kwargs):
        seen.append(instance)

    post_init.connect(receiver, sender=Patient)
    try:
        made = made_by(PlainModelIterable, Patient.objects.all())
    finally:
        post_init.disconnect(receiver, sender=Patient)
    assert len(seen) == len(made) == len(patients)


def test_the_list_pages_rows_cost_about_a_call_a_patient(patients):
    PatientFactory.create_batch(40)
    ids = list(Patient.objects.values_list("pk", flat=True))
    compiled = Compiled(selectors._list_rows().filter(AnyOf("pk", [1])), [1], plain_models=True)
    models = Compiled(selectors._list_rows().filter(AnyOf("pk", [1])), [1])

    def calls(read):
        read(ids[:5])
        profile = cProfile.Profile()
        profile.enable()
        read(ids[:5])
        few = pstats.Stats(profile.disable() or profile).total_calls  # type: ignore[attr-defined]
        profile = cProfile.Profile()
        profile.enable()
        read(ids)
        many = pstats.Stats(profile.disable() or profile).total_calls  # type: ignore[attr-defined]
        return (many - few) / (len(ids) - 5)

    plain, by_init = calls(compiled.rows), calls(models.rows)
    assert plain + 30 < by_init, (plain, by_init)
    assert [described(obj) for obj in compiled.rows(ids)] == [described(obj) for obj in models.rows(ids)]
    assert selectors.patient_list_rows(ids[:3]) == models.rows(ids[:3])
