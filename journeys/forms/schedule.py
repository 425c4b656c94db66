"""The schedule's filters and booking a visit from one of its free slots. They validate; the service decides."""

from __future__ import annotations

import copy
from datetime import date, timedelta
from html import escape
from urllib.parse import quote_plus

from crispy_forms.layout import Layout
from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.choices import normalize_choices
from django.utils.functional import cached_property
from django.utils.safestring import SafeString, mark_safe

from accounts.models import User
from accounts.once import rendered_once
from patients.models import Patient

from ..models import Visit
from ..selectors.schedule import (
    PRACTITIONER_FIELDS,
    PRACTITIONERS_SHOWN,
    clinic_zone,
    schedule_practitioner_rows,
    week_of,
)
from .visits import _VisitTimeForm

VIEWS = [("day", "Day"), ("week", "Week")]


def _options(choices: tuple) -> str:
    return "".join(
        f'<option value="{escape(str(option))}">{escape(str(label))}</option>' for option, label in choices
    )


class QuickSelect(forms.Select):
    """A ``<select>`` written in one pass: the practitioner list of a large clinic has hundreds of options,
    and the template-per-option widget cost more than the rest of the schedule's header. Its options are
    written once per list (``rendered_once``: the clinic's practitioners' names and the kinds of visit, no
    patient's) and the chosen one marked ``selected`` on each request; flat choices are kept as given, not
    normalised one by one."""

    @property
    def choices(self):
        return self._choices

    @choices.setter
    def choices(self, value):
        self._choices = list(value) if isinstance(value, list | tuple) else normalize_choices(value)

    def render(self, name, value, attrs=None, renderer=None):
        chosen = escape("" if value is None else str(value))
        attributes = self.build_attrs(self.attrs, attrs) | {"name": name}
        listed = tuple(self.choices)
        options = rendered_once(("schedule select options", listed), lambda: _options(listed))
        # every value is escaped (a quote too), so this start can only be the chosen option's own
        options = options.replace(f'<option value="{chosen}">', f'<option value="{chosen}" selected>')
        return mark_safe(f"<select{_flat(attributes)}>{options}</select>")  # noqa: S308 — every part escaped


def _escaped(value) -> str:
    """``conditional_escape``: markup already safe kept, anything else escaped."""
    return value.__html__() if hasattr(value, "__html__") else escape(str(value))


def _flat(attrs: dict) -> str:
    """``flatatt(attrs)`` in one pass: its ``key="value"`` pairs in name order, then its true flags in name
    order, escaped as it escapes them (its ``format_html_join`` cost ~200 calls a select)."""
    pairs = sorted(
        [(key, value) for key, value in attrs.items() if value is not None and not isinstance(value, bool)]
    )
    flags = sorted([key for key, value in attrs.items() if value is True])
    return "".join([f' {_escaped(key)}="{_escaped(value)}"' for key, value in pairs]) + "".join(
        [f" {_escaped(key)}" for key in flags]
    )


class QuickDateInput(forms.DateInput):
    """Django's ``<input type="date">`` written in Python: the same markup as its template, escaped alike."""

    def render(self, name, value, attrs=None, renderer=None):
        shown = self.format_value(value)
        parts = [f'<input type="{escape(self.input_type)}" name="{escape(name)}"']
        if shown is not None:
            parts.append(f' value="{escape(str(shown))}"')
        for key, given in self.build_attrs(self.attrs, attrs).items():
            if given is not False:
                parts.append(f" {escape(key)}" if given is True else f' {escape(key)}="{escape(str(given))}"')
        return mark_safe("".join(parts) + ">")  # noqa: S308 — every part escaped


def kind_choices() -> list[tuple[str, str]]:
    return [
        (kind, f"{Visit.Kind(kind).label} ({minutes} min)") for kind, minutes in Visit.DEFAULT_MINUTES.items()
    ]


NO_SUCH_PRACTITIONER = "That practitioner has no schedule here: choose one from the list."


class ScheduleFilterForm(forms.Form):
    """Which days, whose, and the length of the free slots. A practitioner sees their own by default,
    everyone else the whole clinic; a value that does not parse falls back to the default, with its error."""

    view = forms.ChoiceField(
        choices=VIEWS, required=False, label="Show", widget=forms.Select(attrs={"class": "form-select"})
    )
    day = forms.DateField(
        required=False,
        label="Day",
        widget=QuickDateInput(attrs={"type": "date", "class": "form-control"}, format="%Y-%m-%d"),
        error_messages={"invalid": "That is not a date: use the picker, or write it as 2026-04-14."},
    )
    practitioner = forms.IntegerField(
        required=False,
        label="Practitioner",
        widget=QuickSelect(
            attrs={"class": "form-select"}
        ),  # its options: the clinic's practitioners (per form)
        error_messages={"invalid": NO_SUCH_PRACTITIONER},
    )
    kind = forms.ChoiceField(
        required=False,
        label="Free slots for",
        choices=kind_choices,
        widget=QuickSelect(attrs={"class": "form-select"}),
    )
    patient = forms.IntegerField(required=False, widget=forms.HiddenInput, min_value=1)
    page = forms.IntegerField(
        required=False,
        min_value=1,
        widget=forms.HiddenInput,
        error_messages={"invalid": "That is not a page of practitioners.", "min_value": "Pages start at 1."},
    )

    def __init__(self, data, *, user: User, today: date | None = None):
        # rows, not users: a large clinic lists hundreds, and only the ones shown become users
        self.practitioners = schedule_practitioner_rows()
        name, username = PRACTITIONER_FIELDS.index("display_name"), PRACTITIONER_FIELDS.index("username")
        self._names = {row[0]: row[name] or row[username] for row in self.practitioners}  # as User.__str__
        self.today = today or timezone.localdate(timezone.now(), clinic_zone())
        data = data.copy()  # the defaults are filled in, so the controls show what the page shows
        if "practitioner" not in data and user.pk in self._names:
            data["practitioner"] = str(user.pk) if user.is_practitioner else ""
        for name, default in (
            ("view", "day"),
            ("day", self.today.isoformat()),
            ("kind", Visit.Kind.FOLLOW_UP),
        ):
            if not data.get(name):
                data[name] = default
        super().__init__(data)
        self.fields["practitioner"].widget.choices = [("", "Whole clinic"), *self._names.items()]

    def controls(self) -> dict[str, SafeString]:
        """Each of the three visible filters (practitioner, day, kind) as its label and control, the markup
        ``<label for="{{ field.id_for_label }}">{{ field.label }}</label>`` and ``{{ field }}`` wrote: by
        the widget itself when the field is as the page leaves it (no error, not required, no help), by its
        bound field otherwise (the error's ``aria-invalid``) — a dozen calls a control, not a hundred."""
        written = {}
        for name in ("practitioner", "day", "kind"):
            field = self.fields[name]
            if self.is_bound and name not in self.errors and not (field.required or field.help_text):
                control_id = f"id_{name}"
                widget = field.widget.render(name, self.data.get(name), attrs={"id": control_id})
            else:
                bound = self[name]
                control_id, widget = bound.id_for_label, str(bound)
            written[name] = mark_safe(  # noqa: S308 — the widget escapes its own; the rest escaped here
                f'<label class="form-label small mb-1" for="{escape(control_id)}">{escape(str(field.label))}'
                f"</label>\n        {widget}"
            )
        return written

    def _value(self, name: str, default):
        if not self.is_bound or name in self.errors:
            return default
        value = self.cleaned_data.get(name)
        return default if value in (None, "") else value

    @cached_property
    def shown_view(self) -> str:
        return self._value("view", "day")

    @cached_property
    def shown_day(self) -> date:
        return self._value("day", self.today)

    @cached_property
    def shown_kind(self) -> str:
        return self._value("kind", Visit.Kind.FOLLOW_UP)

    @property
    def shown_kind_label(self) -> str:
        return Visit.Kind(self.shown_kind).label

    @property
    def minutes(self) -> int:
        return Visit.DEFAULT_MINUTES[Visit.Kind(self.shown_kind)]

    def clean_practitioner(self) -> int | None:
        pk = self.cleaned_data.get("practitioner")
        if pk is not None and pk not in self._names:
            raise ValidationError(NO_SUCH_PRACTITIONER, code="invalid_choice")
        return pk

    def _user(self, row: tuple) -> User:
        """A listed practitioner as a user, with the listed fields loaded (as ``.only()`` gives it)."""
        return User.from_db(User.objects.db, PRACTITIONER_FIELDS, row)

    @cached_property
    def shown_practitioner(self) -> User | None:
        pk = self._value("practitioner", None)
        return next((self._user(row) for row in self.practitioners if row[0] == pk), None)

    @cached_property
    def patient_id(self) -> int | None:
        return self._value("patient", None)

    @property
    def page_count(self) -> int:
        return max(1, -(-len(self.practitioners) // PRACTITIONERS_SHOWN))

    @cached_property
    def shown_page(self) -> int:
        """Which page of the whole clinic's practitioners (``PRACTITIONERS_SHOWN`` a page, by name): a
        screenful, whatever the size of the clinic; past the last it is the last."""
        if self.shown_practitioner is not None:
            return 1
        return min(self._value("page", 1), self.page_count)

    @property
    def page_practitioners(self) -> list[User]:
        """Whose schedule is shown: the chosen practitioner, or this page of the whole clinic."""
        if self.shown_practitioner is not None:
            return [self.shown_practitioner]
        first = (self.shown_page - 1) * PRACTITIONERS_SHOWN
        return [self._user(row) for row in self.practitioners[first : first + PRACTITIONERS_SHOWN]]

    @property
    def days(self) -> list[date]:
        return week_of(self.shown_day) if self.shown_view == "week" else [self.shown_day]

    def step(self) -> timedelta:
        return timedelta(days=7 if self.shown_view == "week" else 1)

    @cached_property
    def _query_values(self) -> dict[str, str | None]:
        return {
            "view": self.shown_view,
            "day": self.shown_day.isoformat(),
            "practitioner": str(self.shown_practitioner.pk) if self.shown_practitioner else "",
            "kind": self.shown_kind,
            "patient": str(self.patient_id) if self.patient_id else None,
            "page": str(self.shown_page) if self.shown_page > 1 else None,
        }

    @cached_property
    def _query_pairs(self) -> dict[str, str]:
        return {key: _pair(key, value) for key, value in self._query_values.items() if value is not None}

    def query(self, **changes) -> str:
        """This schedule's query string with ``changes`` (a value of None drops the key), as ``QueryDict``
        writes it; the unchanged keys' pairs are encoded once per form (a page writes a dozen links)."""
        values = self._query_values | changes
        if changes.get("practitioner") not in (None, ""):
            values["page"] = None  # one practitioner: no page of the clinic
        pairs = self._query_pairs
        return "&".join(
            [
                _pair(key, value) if key in changes else pairs[key]
                for key, value in values.items()
                if value is not None
            ]
        )


class _Fields(dict):
    """The filter form's fields, as each form copies them (``BaseForm`` deep-copies its ``base_fields``):
    only the practitioner's, whose widget each form gives the clinic's practitioners; the others are never
    changed by a form (their classes are set above, once) and are shared, where deep-copying the six fields
    and their widgets cost each load of the schedule ~400 calls."""

    def __deepcopy__(self, memo) -> dict[str, forms.Field]:
        fields = dict(self)
        practitioner = fields["practitioner"] = copy.copy(self["practitioner"])
        practitioner.widget = copy.copy(practitioner.widget)
        practitioner.widget.attrs = dict(practitioner.widget.attrs)
        return fields


ScheduleFilterForm.base_fields = _Fields(ScheduleFilterForm.base_fields)


def _pair(key: str, value) -> str:
    """``key=value`` as ``QueryDict.urlencode`` writes it."""
    return f"{quote_plus(key)}={quote_plus(str(value))}"


class SlotCheckForm(_VisitTimeForm):
    """A visit's time, length, kind and practitioner, as the booking form holds them: checked against the
    booking rules as they change, before anything is submitted."""

    kind = forms.ChoiceField(label="Kind of visit", choices=Visit.Kind.choices)

    field_order = ["kind", "practitioner", "starts_at", "duration_minutes", "location"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["duration_minutes"].help_text = "Leave empty for the usual length of this kind of visit."
        # one column: the form sits in the schedule's side panel
        self.helper.layout = Layout("kind", "practitioner", "starts_at", "duration_minutes", "location")

    def minutes(self) -> int:
        data = self.cleaned_data
        return data.get("duration_minutes") or Visit.DEFAULT_MINUTES[Visit.Kind(data["kind"])]


class SlotBookingForm(SlotCheckForm):
    """Book a visit from a free slot: the slot's time and practitioner, and the patient it is for."""

    patient = forms.ModelChoiceField(
        queryset=Patient.objects.active(),
        error_messages={
            "required": "Choose the patient this visit is for: find them by name above.",
            "invalid_choice": "That patient is not in the clinic's active list: find them by name again.",
        },
    )
