"""The patient's intake form: one section of a questionnaire at a time, built from its questions.

Every field works without JavaScript. The symptom and medication lists are rows of plain fields: the form
shows the rows already saved plus two blank ones, and "Add more rows" saves and shows two more. Messages
are gentle: nothing here is a test, and most questions may stay blank.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django import forms
from django.utils import timezone

from .models import Agreement, QuestionKind, QuestionnaireQuestion

BLANK_ROWS = 2
MAX_ROWS = 40
ROW_FIELDS = {
    QuestionKind.SYMPTOMS: ("name", "severity", "since"),
    QuestionKind.MEDICATIONS: ("name", "dose", "frequency"),
}
ROW_LABELS = {
    "name": {"symptoms": "Symptom", "medications": "Name"},
    "severity": "How strong (0–10)",
    "since": "Since when",
    "dose": "Dose",
    "frequency": "How often",
}
SCALE = [(str(n), str(n)) for n in range(11)]
YES_NO = [("yes", "Yes"), ("no", "No")]
GENTLE_REQUIRED = "We would love an answer here when you are ready."


@dataclass
class Item:
    """One question as the template shows it: its field(s), or its rows of fields."""

    question: QuestionnaireQuestion
    fields: list[forms.BoundField] = field(default_factory=list)
    rows: list[list[forms.BoundField]] = field(default_factory=list)
    rows_field: str = ""
    errors: list[str] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return self.question.kind


def _text(**kwargs) -> forms.CharField:
    return forms.CharField(required=False, strip=True, **kwargs)


class SectionForm(forms.Form):
    def __init__(self, data=None, *, questions: list[QuestionnaireQuestion], answers: dict[str, Any]):
        super().__init__(data)
        self.questions = questions
        self.row_counts: dict[str, int] = {}
        for question in questions:
            self._add(question, answers.get(question.link_id))

    def _add(self, q: QuestionnaireQuestion, value: Any) -> None:
        name, kind = f"q-{q.link_id}", q.kind
        label = q.text
        if kind == QuestionKind.SHORT_TEXT:
            self.fields[name] = _text(label=label, max_length=300, widget=forms.TextInput)
            self.initial[name] = value or ""
        elif kind == QuestionKind.LONG_TEXT:
            self.fields[name] = _text(label=label, max_length=5000, widget=forms.Textarea(attrs={"rows": 4}))
            self.initial[name] = value or ""
        elif kind == QuestionKind.SINGLE_CHOICE:
            choices = [(o, o) for o in q.option_list]
            self.fields[name] = forms.ChoiceField(
                label=label, required=False, choices=choices, widget=forms.RadioSelect
            )
            self.initial[name] = value or ""
        elif kind == QuestionKind.MULTIPLE_CHOICE:
            choices = [(o, o) for o in q.option_list]
            self.fields[name] = forms.MultipleChoiceField(
                label=label, required=False, choices=choices, widget=forms.CheckboxSelectMultiple
            )
            self.initial[name] = value or []
        elif kind == QuestionKind.SCALE:
            self.fields[name] = forms.ChoiceField(
                label=label,
                required=False,
                choices=SCALE,
                widget=forms.RadioSelect,
                error_messages={"invalid_choice": "Please choose a number from 0 to 10."},
            )
            self.initial[name] = "" if value is None else str(value)
        elif kind == QuestionKind.DATE:
            self.fields[name] = forms.DateField(
                label=label,
                required=False,
                widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
                error_messages={
                    "invalid": "We could not read that date: try it like 2024-03-31, or leave it blank."
                },
            )
            self.initial[name] = value or ""
        elif kind == QuestionKind.YES_NO:
            self.fields[name] = forms.ChoiceField(
                label=label, required=False, choices=YES_NO, widget=forms.RadioSelect
            )
            self.fields[f"{name}-details"] = _text(
                label="Details", max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
            )
            if isinstance(value, dict):
                self.initial[name] = {True: "yes", False: "no"}.get(value.get("answer"), "")
                self.initial[f"{name}-details"] = value.get("details", "")
        else:
            self._add_rows(q, value if isinstance(value, list) else [])
        if q.required and kind not in ROW_FIELDS:
            self.fields[name].required = True
            self.fields[name].error_messages["required"] = GENTLE_REQUIRED

    def _add_rows(self, q: QuestionnaireQuestion, saved: list) -> None:
        name = f"q-{q.link_id}"
        count = len(saved) + BLANK_ROWS
        if self.is_bound:
            try:
                count = int(self.data.get(f"{name}-rows", count))
            except (TypeError, ValueError):
                count = BLANK_ROWS
        count = max(1, min(count, MAX_ROWS))
        self.row_counts[name] = count
        for n in range(count):
            row = saved[n] if n < len(saved) and isinstance(saved[n], dict) else {}
            for part in ROW_FIELDS[QuestionKind(q.kind)]:
                key = f"{name}-{n}-{part}"
                label = ROW_LABELS[part]
                label = label[q.kind] if isinstance(label, dict) else label
                if part == "severity":
                    self.fields[key] = forms.ChoiceField(
                        label=label, required=False, choices=[("", "–"), *SCALE],
                        error_messages={"invalid_choice": "Please choose a number from 0 to 10."},
                    )  # fmt: skip
                    self.initial[key] = "" if row.get(part) is None else str(row.get(part))
                else:
                    self.fields[key] = _text(label=label, max_length=200 if part == "name" else 100)
                    self.initial[key] = row.get(part, "")

    def clean(self):
        cleaned = super().clean()
        today = timezone.localdate()
        for q in self.questions:
            name = f"q-{q.link_id}"
            if q.kind == QuestionKind.DATE and isinstance(cleaned.get(name), date):
                if cleaned[name] > today:
                    self.add_error(
                        name, "That date is still to come: a date in the past, or a rough guess, is perfect."
                    )
                elif cleaned[name].year < 1900:
                    self.add_error(name, "Please check the year of that date.")
            if q.kind in ROW_FIELDS:
                for n in range(self.row_counts.get(name, 0)):
                    parts = {p: cleaned.get(f"{name}-{n}-{p}") for p in ROW_FIELDS[QuestionKind(q.kind)]}
                    if not parts["name"] and any(
                        v not in (None, "") for k, v in parts.items() if k != "name"
                    ):
                        self.add_error(f"{name}-{n}-name", "Add a name to this row, or clear it.")
        return cleaned

    def values(self) -> dict[str, Any]:
        """Link id → the answer as stored (``QuestionnaireAnswer.value``); empty ones as ``None``."""
        out: dict[str, Any] = {}
        data = self.cleaned_data
        for q in self.questions:
            name, kind = f"q-{q.link_id}", q.kind
            if kind in (QuestionKind.SHORT_TEXT, QuestionKind.LONG_TEXT, QuestionKind.SINGLE_CHOICE):
                out[q.link_id] = data.get(name) or None
            elif kind == QuestionKind.MULTIPLE_CHOICE:
                out[q.link_id] = list(data.get(name) or []) or None
            elif kind == QuestionKind.SCALE:
                out[q.link_id] = int(data[name]) if data.get(name) not in (None, "") else None
            elif kind == QuestionKind.DATE:
                out[q.link_id] = data[name].isoformat() if data.get(name) else None
            elif kind == QuestionKind.YES_NO:
                answer, details = data.get(name) or "", data.get(f"{name}-details") or ""
                out[q.link_id] = (
                    {"answer": answer == "yes" if answer else None, "details": details}
                    if answer or details
                    else None
                )
            else:
                rows = []
                for n in range(self.row_counts.get(name, 0)):
                    row = {p: data.get(f"{name}-{n}-{p}") or "" for p in ROW_FIELDS[QuestionKind(kind)]}
                    if not row["name"]:
                        continue
                    if "severity" in row:
                        row["severity"] = int(row["severity"]) if row["severity"] != "" else None
                    rows.append(row)
                out[q.link_id] = rows or None
        return out

    def items(self) -> list[Item]:
        """The questions in order, each with its bound fields, for the template."""
        items = []
        for q in self.questions:
            name = f"q-{q.link_id}"
            item = Item(question=q)
            if q.kind in ROW_FIELDS:
                parts = ROW_FIELDS[QuestionKind(q.kind)]
                item.rows = [
                    [self[f"{name}-{n}-{p}"] for p in parts] for n in range(self.row_counts.get(name, 0))
                ]
                item.rows_field = f"{name}-rows"
                item.errors = [e for row in item.rows for bf in row for e in bf.errors]
            else:
                item.fields = [self[name]]
                if q.kind == QuestionKind.YES_NO:
                    item.fields.append(self[f"{name}-details"])
                item.errors = [e for bf in item.fields for e in bf.errors]
            items.append(item)
        return items


class SignForm(forms.Form):
    """The end of the intake: one tick per agreement (carrying the version shown) and the typed name."""

    signed_name = forms.CharField(
        label="Type your full name to sign",
        max_length=200,
        error_messages={"required": "Please type your full name to sign."},
    )

    def __init__(self, data=None, *, agreements: list[Agreement]):
        super().__init__(data)
        self.agreements = agreements
        for agreement in agreements:
            self.fields[f"agree-{agreement.pk}"] = forms.BooleanField(
                label=f"I have read and agree to “{agreement.title}”",
                required=True,
                error_messages={"required": "Please tick this to sign it."},
            )
            self.fields[f"version-{agreement.pk}"] = forms.IntegerField(
                widget=forms.HiddenInput, initial=agreement.version, required=False
            )

    def agreed(self) -> dict[int, int]:
        """Agreement id → the version the patient was shown and ticked."""
        return {
            a.pk: self.cleaned_data.get(f"version-{a.pk}") or a.version
            for a in self.agreements
            if self.cleaned_data.get(f"agree-{a.pk}")
        }

    def rows(self) -> list[tuple[Agreement, forms.BoundField, forms.BoundField]]:
        return [(a, self[f"agree-{a.pk}"], self[f"version-{a.pk}"]) for a in self.agreements]
