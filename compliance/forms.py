"""The check-in answer form, shared by the patient's public page and the clinic's phone entry, and the
practitioner's course correction on an alert. They validate and normalise; ``compliance.services``
(``checkin_answer_record``, ``course_correct``) writes and checks the same rules again."""

from __future__ import annotations

import re

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Layout, Submit
from django import forms
from django.utils import dateformat, timezone

from journeys.models import Blueprint, BlueprintItem

from .models import Barrier, CheckInAnswer, ComplianceLog, CourseCorrection
from .services import ITEMS_CHANGED_MESSAGE, PAUSED_REASON_MAX, RATING_MAX, RATINGS

ITEM_FIELD = re.compile(r"item_(\d+)")
RATING_LABELS = {"energy": "Energy", "sleep": "Sleep", "mood": "Mood", "digestion": "Digestion"}
PLAN_PAUSED_REASON = "Paused by my care team"


def _rating_field(name: str) -> forms.TypedChoiceField:
    return forms.TypedChoiceField(
        label=RATING_LABELS[name],
        choices=[(str(n), str(n)) for n in range(RATING_MAX + 1)],
        coerce=int,
        empty_value=None,
        required=False,
        widget=forms.RadioSelect(attrs={"class": "btn-check"}),
        error_messages={"invalid_choice": f"Choose a number from 0 to {RATING_MAX}."},
    )


class CheckInAnswerForm(forms.Form):
    """How each plan item went this week, in the patient's words, and four 0–10 ratings."""

    where_it_failed = forms.CharField(
        label="Where did my plan fail you this week?",
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="There are no wrong answers: what did not work is exactly what we want to hear.",
    )
    barriers = forms.MultipleChoiceField(
        label="Did anything get in the way?",
        choices=Barrier.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple(attrs={"class": "form-check-input"}),
        help_text="Tick any that fit, or none.",
        error_messages={"invalid_choice": "Choose from the list shown."},
    )
    energy = _rating_field("energy")
    sleep = _rating_field("sleep")
    mood = _rating_field("mood")
    digestion = _rating_field("digestion")

    def __init__(
        self,
        *args,
        items: list[BlueprintItem],
        answer: CheckInAnswer | None = None,
        follow_up: bool = False,
        **kwargs,
    ):
        if answer is not None:
            kwargs.setdefault("initial", self.initial_from(answer))
        super().__init__(*args, **kwargs)
        if follow_up:  # after graduation: no plan to ask about, only how they are now
            self.fields["where_it_failed"].label = "How are you now?"
            self.fields[
                "where_it_failed"
            ].help_text = "Whatever you would like to tell us: what has stayed with you, anything that has become harder."
        self.items = list(items)
        for item in self.items:
            status, reason = self._names(item)
            self.fields[status] = forms.ChoiceField(
                label=item.title,
                choices=ComplianceLog.Status.choices,
                widget=forms.RadioSelect(attrs={"class": "btn-check"}),
                error_messages={
                    "required": "Choose how this one went; any answer is welcome.",
                    "invalid_choice": "Choose one of the answers shown.",
                },
            )
            self.fields[reason] = forms.CharField(
                label="Paused on purpose? Tell us why",
                required=False,
                max_length=PAUSED_REASON_MAX,
                help_text="Only needed when it is paused on purpose.",
            )
            if answer is None and item.status == BlueprintItem.Status.PAUSED:
                self.initial.setdefault(status, ComplianceLog.Status.PAUSED)
                self.initial.setdefault(reason, PLAN_PAUSED_REASON)

    @staticmethod
    def _names(item: BlueprintItem) -> tuple[str, str]:
        return f"item_{item.pk}", f"item_{item.pk}_reason"

    @classmethod
    def initial_from(cls, answer: CheckInAnswer) -> dict:
        """The form as the patient left it, for changing an answer."""
        initial = {
            "where_it_failed": answer.where_it_failed,
            "barriers": list(answer.barriers),
            **{name: getattr(answer, name) for name in RATINGS},
        }
        for log in answer.logs.all():
            initial[f"item_{log.item_id}"] = log.status
            initial[f"item_{log.item_id}_reason"] = log.paused_reason
        return initial

    def clean(self):
        cleaned = super().clean()
        asked = {self._names(item)[0] for item in self.items}
        if any(ITEM_FIELD.fullmatch(name) and name not in asked for name in self.data):
            self.add_error(None, forms.ValidationError(ITEMS_CHANGED_MESSAGE, code="items_changed"))
        for item in self.items:
            status, reason = self._names(item)
            if cleaned.get(status) == ComplianceLog.Status.PAUSED and not cleaned.get(reason, "").strip():
                self.add_error(reason, "Tell us in a few words why it is paused.")
        return cleaned

    def item_rows(self) -> list[dict]:
        """One row per plan item for the template: the item, its answer and its reason fields."""
        rows = []
        for item in self.items:
            status, reason = self._names(item)
            rows.append({"item": item, "status": self[status], "reason": self[reason]})
        return rows

    def rating_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in RATINGS]

    def answer_data(self) -> dict:
        """The cleaned answer, in the arguments ``checkin_answer_record`` takes."""
        data = self.cleaned_data
        items_status = {}
        for item in self.items:
            status, reason = self._names(item)
            paused = data[status] == ComplianceLog.Status.PAUSED
            items_status[item.pk] = (data[status], data[reason] if paused else "")
        return {
            "items_status": items_status,
            "where_it_failed": data["where_it_failed"],
            "barriers": data["barriers"],
            "ratings": {name: data[name] for name in RATINGS},
        }


class CourseCorrectionForm(forms.Form):
    change = forms.ChoiceField(
        choices=CourseCorrection.Change.choices, label="What changed", widget=forms.RadioSelect
    )
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        label="In a sentence or two",
        error_messages={
            "required": "Say what changed and why, in a sentence or two; it stays on the record."
        },
        help_text="What you changed and why. The clinic's record, not a message to the patient.",
    )
    blueprint = forms.ModelChoiceField(
        queryset=Blueprint.objects.none(),
        required=False,
        label="The revised plan",
        empty_label="— the plan was not revised —",
    )
    resolve = forms.BooleanField(
        required=False,
        initial=True,
        label="This answers the alert: close it",
        help_text="Untick to record a step (a call booked) and keep the alert open.",
    )

    def __init__(self, *args, blueprints=None, versions=None, **kwargs):
        """``blueprints``: the versions a correction may link, which a bound form's choice is checked against.
        ``versions``: for a form only shown, never bound, the versions to offer, read already
        (``selectors.AlertPlan.since``, newest first): no query for them, nor a queryset built."""
        super().__init__(*args, **kwargs)
        field = self.fields["blueprint"]
        field.queryset = blueprints if blueprints is not None else Blueprint.objects.none()
        field.label_from_instance = lambda b: (
            f"Version {b.version}, published {dateformat.format(timezone.localtime(b.published_at), 'j M Y')}"
        )
        field.help_text = "Versions published since the alert opened."
        if versions is not None:
            field.choices = [
                ("", field.empty_label),
                *((v.pk, field.label_from_instance(v)) for v in versions),
            ]
        if not self.is_bound:
            if versions is None:
                self.initial.setdefault("blueprint", field.queryset.first())
            else:
                self.initial.setdefault("blueprint", versions[0].pk if versions else None)
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.disable_csrf = True  # the page's <form> carries the token
        self.helper.layout = Layout(
            "change", "note", "blueprint", "resolve", Submit("save", "Record the correction")
        )

    def clean_note(self):
        note = self.cleaned_data["note"].strip()
        if not note:
            raise forms.ValidationError(
                "Say what changed and why, in a sentence or two; it stays on the record."
            )
        return note
