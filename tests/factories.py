import factory
from django.contrib.auth import get_user_model

PASSWORD = "correct horse battery staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    display_name = factory.Faker("name")
    email = factory.LazyAttribute(lambda u: f"{u.username}@clinic.invalid")
    role = "staff"
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class PatientFactory(factory.django.DjangoModelFactory):
    """A patient with no consent and no care team; add them with the services or the factories below."""

    class Meta:
        model = "patients.Patient"

    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.Sequence(lambda n: f"patient{n}@example.com")
    phone = factory.Sequence(lambda n: f"+1202555{n % 10000:04d}")
    time_zone = "America/New_York"


class ConsentEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "patients.ConsentEvent"

    patient = factory.SubFactory(PatientFactory)
    channel = "email"
    granted = True
    address = factory.LazyAttribute(lambda e: e.patient.email if e.channel == "email" else e.patient.phone)
    via = "test"


class CareTeamMemberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "patients.CareTeamMember"

    patient = factory.SubFactory(PatientFactory)
    user = factory.SubFactory(UserFactory, role="practitioner")
    role = "lead"
