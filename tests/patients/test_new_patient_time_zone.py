"""A new patient starts in the clinic's time zone: the real form, as a browser would send it back."""

from html.parser import HTMLParser

import pytest

from patients.models import Patient

pytestmark = pytest.mark.django_db


class FormValues(HTMLParser):
    """What a browser would post for the page's form when nobody changes anything."""

    def __init__(self):
        super().__init__()
        self.values: dict[str, str] = {}
        self._select: str | None = None
        self._first_option: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        name = attrs.get("name")
        if tag == "input" and name and attrs.get("type") not in ("submit", "button"):
            if attrs.get("type") in ("checkbox", "radio"):
                if "checked" in attrs:
                    self.values[name] = attrs.get("value", "on")
            else:
                self.values[name] = attrs.get("value") or ""
        elif tag == "select" and name:
            self._select, self._first_option = name, None
        elif tag == "option" and self._select:
            value = attrs.get("value", "")
            if self._first_option is None:
                self._first_option = value
            if "selected" in attrs:
                self.values[self._select] = value
        elif tag == "textarea" and name:
            self._textarea = name
            self.values[name] = ""

    def handle_data(self, data):
        if self._textarea:
            self.values[self._textarea] += data

    def handle_endtag(self, tag):
        if tag == "select" and self._select:
            self.values.setdefault(self._select, self._first_option or "")  # a browser posts the first option
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def initial_values(html: str) -> dict[str, str]:
    reader = FormValues()
    reader.feed(html)
    return reader.values


@pytest.mark.parametrize("clinic_zone", ["America/New_York", "Europe/London", "UTC"])
def test_a_new_patient_left_untouched_gets_the_clinics_time_zone(
    client_for, staff, practitioner, settings, clinic_zone
):
    settings.TIME_ZONE = clinic_zone
    client = client_for(staff)
    page = client.get("/patients/new/")
    assert page.status_code == 200
    values = initial_values(page.content.decode())
    assert values["time_zone"] == clinic_zone  # measured before: Africa/Abidjan, the list's first entry

    values |= {
        "first_name": "Ada",
        "last_name": "Okafor",
        "email": "ada@example.com",
        "lead": str(practitioner.pk),
    }
    response = client.post("/patients/new/", values)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Patient.objects.get(email="ada@example.com").time_zone == clinic_zone


def test_editing_a_patient_keeps_their_own_time_zone(client_for, staff, practitioner):
    from patients import services

    patient = services.patient_create(
        actor=staff,
        data={
            "first_name": "Kai",
            "last_name": "Lund",
            "email": "kai@example.com",
            "time_zone": "Asia/Tokyo",
        },
        lead=practitioner,
    )
    values = initial_values(client_for(staff).get(f"/patients/{patient.pk}/edit/").content.decode())
    assert values["time_zone"] == "Asia/Tokyo"
