"""Forms of the dashboard's cross-app pages: the patient list's filter bar, the Insights date range."""

from __future__ import annotations

from datetime import date, timedelta
from html import escape

from django import forms
from django.utils.safestring import SafeString, mark_safe

from accounts.widgets import PlainInput, PlainSelect
from journeys.models import Stage
from journeys.selectors.patients import NO_JOURNEY, STAGE_ORDER
from patients.models import Patient
from patients.selectors import lead_choices

PAGE_SIZES = (25, 50, 100)


def _invalid_choice(label: str) -> str:
    return f"{label}: “%(value)s” is not one of the choices, so it was left out."


class _IdChoiceField(forms.Field):
    """A choice among ids the form reads on each request (the clinic's practitioners), or nothing: the text
    as ``ChoiceField`` reads it (``str()``, empty as ""), checked by the form against the ids it read
    (``PatientListForm.clean_lead``), not choice by choice; an int, or ``None`` for nothing."""

    def to_python(self, value) -> str:
        return "" if value in self.empty_values else str(value)


class _Fields(dict):
    """The filter bar's fields, shared by every form (``BaseForm`` deep-copies its ``base_fields``): no form
    changes one (their widgets' classes, texts and messages are set below, once; the lead's options are the
    form's own, written by ``PatientListForm.fields_html``), where deep-copying the seven fields, their widgets
    and choices cost each list ~900 calls."""

    def __deepcopy__(self, memo) -> dict[str, forms.Field]:
        return dict(self)


LEAD_FIRST = (("", "Any lead"), ("0", "No lead yet"))
STAGE_CHOICES = [
    ("", "Any stage"),
    *((str(stage), Stage(stage).label) for stage in STAGE_ORDER),
    (NO_JOURNEY, "No journey yet"),
]
# Each control of the bar as templates/patients/patient_list.html wrote it: (name, the div's class, label).
BAR = (
    ("q", "filter-field filter-search", None),
    ("stage", "filter-field", "Stage"),
    ("lead", "filter-field", "Lead"),
    ("source", "filter-field", "Source"),
    ("archived", "filter-field", "Showing"),
    ("per_page", "filter-field filter-narrow", "Rows"),
)


class PatientListForm(forms.Form):
    """The patient list's search, filters, order and page size; every field optional. A value that cannot be
    read is left out (the rest still apply); its error names the field."""

    ARCHIVED_CHOICES = [("active", "Active patients"), ("archived", "Archived"), ("all", "Everyone")]
    SORT_CHOICES = [
        ("name", "Name A–Z"),
        ("-name", "Name Z–A"),
        ("stage", "Stage, first to last"),
        ("-stage", "Stage, last to first"),
        ("lead", "Lead A–Z"),
        ("-lead", "Lead Z–A"),
        ("-added", "Newest first"),
        ("added", "Oldest first"),
    ]
    OLD_SORTS = {"newest": "-added", "oldest": "added"}  # the words of older bookmarked links

    q = forms.CharField(required=False, label="Name, email or phone", max_length=100, widget=PlainInput)
    # Selects rendered in Python: the lead's options are the clinic's practitioners, hundreds at a large clinic.
    stage = forms.ChoiceField(required=False, label="Stage", choices=STAGE_CHOICES, widget=PlainSelect)
    lead = _IdChoiceField(required=False, label="Lead", widget=PlainSelect)
    source = forms.ChoiceField(
        required=False, choices=[("", "Any source"), *Patient.Source.choices], widget=PlainSelect
    )
    archived = forms.ChoiceField(
        required=False, choices=ARCHIVED_CHOICES, label="Showing", widget=PlainSelect
    )
    sort = forms.ChoiceField(required=False, choices=SORT_CHOICES, label="Order", widget=PlainSelect)
    per_page = forms.TypedChoiceField(
        required=False,
        coerce=int,
        empty_value=PAGE_SIZES[0],
        choices=[(str(size), f"{size} a page") for size in PAGE_SIZES],
        label="Rows",
        widget=PlainSelect,
    )

    def __init__(self, data=None, *args, **kwargs):
        if data is not None and data.get("sort") in self.OLD_SORTS:
            data = data.copy()
            data["sort"] = self.OLD_SORTS[data["sort"]]
        super().__init__(data, *args, **kwargs)
        # (id, name) of every lead candidate, read once: the lead's options, and what a lead is checked against
        self.lead_choices = [*LEAD_FIRST, *lead_choices()]
        self.lead_ids = {value for value, _ in self.lead_choices}

    def clean_lead(self) -> int | None:
        value = self.cleaned_data["lead"]
        if value == "":
            return None
        if value not in self.lead_ids:
            raise forms.ValidationError(
                self.fields["lead"].error_messages["invalid_choice"],
                code="invalid_choice",
                params={"value": value},
            )
        return int(value)

    def fields_html(self) -> SafeString:
        """The bar's six controls, each with its label, as the template wrote them with ``{{ filters.q }}``
        and the rest (``BoundField.as_widget``): written by the widget itself with the attributes the bound
        field gives it (its id; with an error, ``aria-invalid`` and ``aria-describedby``), a dozen calls a
        control, not a hundred."""
        parts = []
        errors = self.errors if self.is_bound else {}
        for name, div, label in BAR:
            field = self.fields[name]
            value = self.data.get(name) if self.is_bound else None
            attrs = {"id": f"id_{name}"}
            if name in errors:  # as BoundField.as_widget marks it
                attrs = {"aria-invalid": "true", "aria-describedby": f"id_{name}_error", **attrs}
            if name == "lead":
                control = field.widget.render_choices(self.lead_choices, name, value, attrs)
            else:
                control = field.widget.render(name, value, attrs)
            parts.append(
                f'<div class="{div}">\n'
                f'        <label for="id_{name}" class="form-label small mb-1">{escape(label or str(field.label))}'
                f"</label>\n        {control}\n      </div>"
            )
        return mark_safe("\n      ".join(parts))  # noqa: S308 — the widgets escape their own; labels escaped

    def _value(self, name: str, default=None):
        if not self.is_bound or name in self.errors:
            return default
        value = self.cleaned_data.get(name)
        return default if value in (None, "") else value

    def filters(self) -> dict:
        """Keyword arguments for ``patient_listing``: what was asked, less what could not be read."""
        return {
            "query": self._value("q", ""),
            "lead_id": self._value("lead"),
            "source": self._value("source", ""),
            "archived": self._value("archived", "active"),
            "stage": self._value("stage", ""),
            "sort": self._value("sort", "name"),
        }

    def page_size(self) -> int:
        return self._value("per_page", PAGE_SIZES[0])

    def is_narrowed(self) -> bool:
        """Whether a search or filter hides some active patients (to word the empty state)."""
        f = self.filters()
        return bool(
            f["query"] or f["lead_id"] is not None or f["source"] or f["stage"] or f["archived"] != "active"
        )


for _name, _field in PatientListForm.base_fields.items():
    _field.widget.attrs.setdefault("class", "form-control" if _name == "q" else "form-select")
    _field.error_messages["invalid_choice"] = _invalid_choice(str(_field.label or _name.capitalize()))
PatientListForm.base_fields["q"].widget.input_type = "search"
PatientListForm.base_fields["q"].widget.attrs |= {
    "placeholder": "e.g. jose, renee@, 555 0134",
    "autofocus": True,
}
PatientListForm.base_fields = _Fields(PatientListForm.base_fields)


# The clinic's window and these quick ranges are counted by beat (``dashboard.figures``); any other range up
# to a year (and the year before it, for the trend) is summed from the daily roll-ups beat keeps
# (``dashboard.rollups``, which fills ``2 * MOST_DAYS`` days).
MOST_DAYS = 366
PRESETS = ((14, "Last 2 weeks"), (28, "Last 4 weeks"), (56, "Last 8 weeks"), (91, "Last 13 weeks"))


class InsightsRangeForm(forms.Form):
    """Insights' date range: days in the clinic's time zone, both included, ending today at the latest and
    spanning at most ``MOST_DAYS``. Without one (or with one that cannot be used) the page shows the clinic's
    adherence window ending today."""

    start = forms.DateField(
        required=False,
        label="From",
        widget=forms.DateInput(attrs={"type": "date", "class": "form-control"}),
        error_messages={"invalid": "“From” is not a date: use the calendar, or write it as 2026-04-14."},
    )
    end = forms.DateField(
        required=False,
        label="To",
        widget=forms.DateInput(attrs={"type": "date", "class": "form-control"}),
        error_messages={"invalid": "“To” is not a date: use the calendar, or write it as 2026-04-14."},
    )

    def __init__(self, data=None, *, today: date, default_days: int):
        self.today = today
        self.default = (today - timedelta(days=default_days - 1), today)
        super().__init__(data, initial={"start": self.default[0], "end": self.default[1]})

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        end = cleaned.get("end") or self.today
        start = cleaned.get("start") or end - (self.default[1] - self.default[0])
        if end > self.today:
            raise forms.ValidationError("“To” is after today: Insights can only show what has happened.")
        if start > end:
            raise forms.ValidationError("“From” is after “To”: choose an earlier start.")
        if (end - start).days + 1 > MOST_DAYS:
            raise forms.ValidationError(f"Choose at most {MOST_DAYS} days between “From” and “To”.")
        cleaned["start"], cleaned["end"] = start, end
        return cleaned

    def range(self) -> tuple[date, date]:
        """(first day, last day) to show: what was asked, or the default when nothing usable was."""
        if self.is_bound and self.is_valid():
            return self.cleaned_data["start"], self.cleaned_data["end"]
        return self.default


def preset_ranges(today: date) -> list[tuple[str, str]]:
    """(label, query string) for the quick ranges ending today."""
    return [
        (label, f"start={(today - timedelta(days=days - 1)).isoformat()}&end={today.isoformat()}")
        for days, label in PRESETS
    ]
