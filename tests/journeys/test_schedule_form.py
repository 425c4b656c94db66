"""The schedule's filter form (``journeys.forms.schedule``) writes what it wrote before, cheaper: its query
strings are ``QueryDict``'s, its selects the one-pass markup with the chosen option marked (options kept once
per list), its date input Django's own template's markup; hostile text escaped alike."""

from datetime import date
from html import escape

import pytest
from django import forms
from django.forms.utils import flatatt
from django.http import QueryDict
from django.utils.safestring import mark_safe

from journeys.forms.schedule import QuickDateInput, QuickSelect, ScheduleFilterForm, _flat
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

HOSTILE = "<script>alert('x')</script> \"Quote\" & Sons — Zoë"


def old_query(form: ScheduleFilterForm, **changes) -> str:
    """The form's query string as it was written before: a ``QueryDict`` of the shown values."""
    values = {
        "view": form.shown_view,
        "day": form.shown_day.isoformat(),
        "practitioner": str(form.shown_practitioner.pk) if form.shown_practitioner else "",
        "kind": form.shown_kind,
        "patient": str(form.patient_id) if form.patient_id else None,
        "page": str(form.shown_page) if form.shown_page > 1 else None,
    } | changes
    if changes.get("practitioner") not in (None, ""):
        values["page"] = None
    out = QueryDict(mutable=True)
    for key, value in values.items():
        if value is not None:
            out[key] = value
    return out.urlencode()


def old_select(widget: forms.Select, name, value, attrs=None) -> str:
    """``QuickSelect`` as it was: every option written, the chosen one marked, on each render."""
    chosen = "" if value is None else str(value)
    attributes = widget.build_attrs(widget.attrs, attrs) | {"name": name}
    options = "".join(
        f'<option value="{escape(str(option))}"{" selected" if str(option) == chosen else ""}>'
        f"{escape(str(label))}</option>"
        for option, label in widget.choices
    )
    return mark_safe(f"<select{flatatt(attributes)}>{options}</select>")  # noqa: S308 — every part escaped


@pytest.fixture
def clinic(staff):
    people = [UserFactory(role="practitioner", display_name=f"Dr. {n} {HOSTILE}") for n in range(12)]
    return staff, people


QUERIES = [
    {},
    {"view": "week"},
    {"day": "2026-04-14", "kind": "intake", "page": "2"},
    {"page": "2", "patient": "7"},
    {"day": "not a day", "practitioner": "nobody", "kind": HOSTILE, "page": "-1", "patient": "x"},
]
CHANGES = [
    {},
    {"view": "day"},
    {"day": "2026-04-15"},
    {"patient": None},
    {"page": "3"},
    {"page": None},
    {"practitioner": "5"},
    {"practitioner": ""},
    {"kind": "intake", "next": f"/schedule/?view=week&day=2026-04-14&x={HOSTILE}", "patient": "12"},
    {"kind": "intake", "next": "/a b+c", "view": None, "day": None, "practitioner": None, "page": None},
]


def test_each_query_string_is_the_querydicts(clinic):
    staff, people = clinic
    for data in [
        *QUERIES,
        {"practitioner": str(people[3].pk)},
        {"practitioner": str(people[3].pk), "page": "2"},
    ]:
        for user in (staff, people[0]):
            form = ScheduleFilterForm(QueryDict(mutable=True) | data, user=user)
            for changes in CHANGES:
                assert form.query(**changes) == old_query(form, **changes), (data, changes)


class OldSelect(forms.Select):
    def render(self, name, value, attrs=None, renderer=None):
        return old_select(self, name, value, attrs)


def test_the_selects_write_the_options_as_before_with_the_chosen_one_marked(clinic):
    staff, people = clinic
    for data in [*QUERIES, {"practitioner": str(people[3].pk)}, {"practitioner": ""}]:
        for user in (staff, people[1]):
            for _ in range(2):  # the second time from the options kept
                form = ScheduleFilterForm(QueryDict(mutable=True) | data, user=user)
                for name in ("practitioner", "kind"):
                    ours = str(form[name])
                    widget = form.fields[name].widget
                    form.fields[name].widget = OldSelect(attrs=widget.attrs)
                    form.fields[name].widget.choices = widget.choices
                    assert ours == str(form[name]), (data, name)
    widget = QuickSelect(attrs={"class": "form-select"})
    widget.choices = [
        ("", "Whole clinic"),
        (HOSTILE, HOSTILE),
        ('1" selected', "x"),
        (1, "One"),
        ("10", "Ten"),
    ]
    for value in (None, "", HOSTILE, '1" selected', 1, "1", "10", "0", '<option value="1">'):
        ours = widget.render("practitioner", value)
        assert ours == old_select(widget, "practitioner", value)
        chosen = "" if value is None else str(value)
        assert ours.count(" selected>") == (chosen in {"", HOSTILE, '1" selected', "1", "10"})


def test_the_date_input_is_djangos(clinic):
    theirs = forms.DateInput(attrs={"type": "date", "class": "form-control"}, format="%Y-%m-%d")
    ours = QuickDateInput(attrs={"type": "date", "class": "form-control"}, format="%Y-%m-%d")
    for value in (None, "", date(2026, 4, 14), "2026-04-14", HOSTILE, "not a date"):
        for attrs in (None, {"id": "id_day"}, {"id": HOSTILE, "required": True, "disabled": False}):
            assert ours.render("day", value, attrs) == theirs.render("day", value, attrs)
            assert ours.render(HOSTILE, value, attrs) == theirs.render(HOSTILE, value, attrs)
    staff, _ = clinic
    for data in QUERIES:  # a bad day among them: the input marked invalid, the text given back escaped
        form = ScheduleFilterForm(QueryDict(mutable=True) | data, user=staff)
        written = str(form["day"])
        form.fields["day"].widget = theirs
        assert written == str(form["day"])


def test_a_selects_attributes_are_flatatts():
    for attrs in (
        {},
        {"name": "practitioner", "id": "id_practitioner", "class": "form-select"},
        {
            "name": HOSTILE,
            "title": mark_safe("<b>kept</b>"),
            "data-n": 3,
            "required": True,
            "disabled": False,
        },
        {"z": None, "autofocus": True, "aria-invalid": "true", "a": HOSTILE, "multiple": True},
    ):
        assert _flat(attrs) == flatatt(attrs)
