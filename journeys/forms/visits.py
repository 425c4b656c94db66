"""Forms for booking and moving visits and for writing visit notes. They validate; the services decide."""

from __future__ import annotations

from datetime import timedelta

from crispy_forms.helper import FormHelper
from crispy_forms.layout import HTML, Column, Fieldset, Layout, Row
from django import forms
from django.conf import settings
from django.utils import timezone

from patients.forms import PractitionerChoiceField
from patients.selectors import lead_candidates

from ..models import Stage, Visit, VisitNote

PAST_GRACE = timedelta(minutes=1)

# The visit a journey's stage usually calls for next.
KIND_FOR_STAGE = {
    Stage.INQUIRY: Visit.Kind.DISCOVERY,
    Stage.DISCOVERY: Visit.Kind.DISCOVERY,
    Stage.INTAKE: Visit.Kind.INTAKE,
    Stage.COMMITMENT: Visit.Kind.COMMITMENT,
}

SECTION_HELP = {
    "story": "Listen as diagnosis: what they told you, as they told it — the years of frustration included.",
    "tried": "Doctors, diets, supplements, treatments — and what each did or did not do for them.",
    "fears": "What worries them about their health, and about this path.",
    "goals": "What getting better would look like in their own life.",
}

# Which field a service refusal belongs to, by its code.
FIELD_FOR_CODE = {
    "double_booked": "starts_at",
    "time_off": "starts_at",
    "in_the_past": "starts_at",
    "duration": "duration_minutes",
    "not_a_practitioner": "practitioner",
    "title_required": "title",
}


def _clinic_zone_label() -> str:
    return settings.TIME_ZONE.replace("_", " ")


class _VisitTimeForm(forms.Form):
    starts_at = forms.DateTimeField(
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        error_messages={
            "required": "Choose the day and time of the visit.",
            "invalid": "That is not a date and time: use the picker, or write it as 2026-04-14 10:00.",
        },
    )
    duration_minutes = forms.IntegerField(
        label="Length (minutes)",
        required=False,
        min_value=5,
        max_value=480,
        error_messages={
            "min_value": "A visit lasts at least 5 minutes.",
            "max_value": "A visit lasts at most 8 hours (480 minutes).",
            "invalid": "Write the length in whole minutes, e.g. 45.",
        },
    )
    practitioner = PractitionerChoiceField(
        queryset=lead_candidates(),
        error_messages={"required": "Choose who will see the patient."},
    )
    location = forms.CharField(
        max_length=200, required=False, help_text="Room, address or video link. It goes in the calendar file."
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["starts_at"].label = f"Starts at (clinic time, {_clinic_zone_label()})"
        self.helper = FormHelper()
        self.helper.form_tag = False

    def full_clean(self):
        # The typed time is the clinic's wall-clock time: a time that does not exist there (a
        # spring-forward gap) or happens twice is refused with a message by the field.
        with timezone.override(settings.TIME_ZONE):
            super().full_clean()

    def clean_starts_at(self):
        value = self.cleaned_data["starts_at"]
        if value < timezone.now() - PAST_GRACE:
            raise forms.ValidationError(
                "That time has passed: visits are booked for the future. To record a visit that already "
                "happened, open its booking and mark it completed."
            )
        return value


class VisitScheduleForm(_VisitTimeForm):
    """Book a visit for one patient."""

    kind = forms.ChoiceField(label="Kind of visit", choices=Visit.Kind.choices)

    field_order = ["kind", "practitioner", "starts_at", "duration_minutes", "location"]

    def __init__(self, *args, patient, journey=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.patient = patient
        defaults = ", ".join(f"{Visit.Kind(k).label.lower()} {m}" for k, m in Visit.DEFAULT_MINUTES.items())
        self.fields["duration_minutes"].help_text = f"Leave empty for the usual length ({defaults})."
        lead_id = getattr(patient, "lead_user_id", None)
        if lead_id:
            self.fields["practitioner"].initial = lead_id
        if journey is not None and journey.stage in KIND_FOR_STAGE:
            self.fields["kind"].initial = KIND_FOR_STAGE[journey.stage]
        else:
            self.fields["kind"].initial = Visit.Kind.FOLLOW_UP
        if patient.time_zone != settings.TIME_ZONE:
            self.fields["starts_at"].help_text = (
                f"{patient.display_name} lives in {patient.time_zone.replace('_', ' ')}: "
                "after booking you see the time on their clock."
            )
        self.fields["starts_at"].help_text += (
            f" Their quiet hours are {patient.quiet_hours_start:%H:%M}–{patient.quiet_hours_end:%H:%M} their time; "
            "a reminder that would fall in them waits, or is held back if it would arrive after the visit began."
        ).lstrip()
        self.helper.layout = Layout(
            Row(Column("kind"), Column("practitioner")),
            Row(Column("starts_at"), Column("duration_minutes")),
            "location",
        )


class VisitRescheduleForm(_VisitTimeForm):
    """Move a booked visit: another time, length, practitioner or place."""

    def __init__(self, *args, visit, **kwargs):
        kwargs.setdefault(
            "initial",
            {
                "starts_at": timezone.localtime(visit.starts_at, timezone.get_default_timezone()),
                "duration_minutes": visit.duration_minutes,
                "practitioner": visit.practitioner_id,
                "location": visit.location,
            },
        )
        super().__init__(*args, **kwargs)
        self.visit = visit
        self.fields["duration_minutes"].help_text = "Leave empty to keep the current length."
        self.helper.layout = Layout(
            Row(Column("starts_at"), Column("duration_minutes")),
            Row(Column("practitioner"), Column("location")),
        )


class VisitCancelForm(forms.Form):
    reason = forms.CharField(
        max_length=200,
        required=False,
        label="Why (optional)",
        help_text="Kept in the record of who changed what, e.g. “patient asked to move it”.",
    )


class VisitNoteForm(forms.Form):
    """A visit note; an intake visit's note adds the patient's story, what they tried, fears and goals."""

    title = forms.CharField(max_length=200, error_messages={"required": "Give the note a title."})
    body = forms.CharField(
        label="Note",
        required=False,
        widget=forms.Textarea(attrs={"rows": 8}),
    )

    def __init__(self, *args, visit, note: VisitNote | None = None, **kwargs):
        self.visit = visit
        self.intake = visit.kind == Visit.Kind.INTAKE and not (note and note.addendum_to_id)
        if note is not None:
            initial = {"title": note.title, "body": note.body}
            initial |= {f"section_{key}": text for key, text in (note.sections or {}).items()}
            kwargs.setdefault("initial", initial)
        else:
            kwargs.setdefault("initial", {"title": f"{visit.get_kind_display()} note"})
        super().__init__(*args, **kwargs)
        parts = []
        if self.intake:
            for key, label in VisitNote.INTAKE_SECTIONS.items():
                self.fields[f"section_{key}"] = forms.CharField(
                    label=label,
                    required=False,
                    help_text=SECTION_HELP.get(key, ""),
                    widget=forms.Textarea(attrs={"rows": 4}),
                )
            self.fields["body"].label = "Anything else"
            parts = [
                Fieldset(
                    "Deep Reconnaissance",
                    HTML(
                        '<p class="form-text mt-0">Truly hearing the patient\'s story is the most powerful '
                        "diagnostic tool you have. Keep their words.</p>"
                    ),
                    *(f"section_{key}" for key in VisitNote.INTAKE_SECTIONS),
                )
            ]
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.layout = Layout("title", *parts, "body")

    def sections(self) -> dict:
        if not self.intake:
            return {}
        return {
            key: self.cleaned_data[f"section_{key}"].strip()
            for key in VisitNote.INTAKE_SECTIONS
            if self.cleaned_data.get(f"section_{key}", "").strip()
        }

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        if not (cleaned.get("body") or "").strip() and not self.sections():
            raise forms.ValidationError("The note is empty: write what happened before saving it.")
        return cleaned


class AddendumForm(forms.Form):
    title = forms.CharField(max_length=200, required=False, help_text="Leave empty for “Addendum to …”.")
    body = forms.CharField(
        label="Addendum",
        widget=forms.Textarea(attrs={"rows": 5}),
        error_messages={"required": "Write the correction or what was missing."},
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_tag = False
