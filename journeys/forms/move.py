"""Forms of the pipeline board: moving a journey one step, and narrowing the board."""

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Field, Layout
from django import forms

from accounts.widgets import PlainSelect, offer_plain_choices
from patients.selectors import lead_choices

from ..models import OFF_PATH, ExitReason, Journey, Stage
from ..selectors.pipeline import program_options
from ..services.stages import allowed_moves

# Codes raised by ``journey_move``, and the field each message belongs next to.
ERROR_FIELDS = {"forbidden_move": "to_stage", "reason_required": "reason", "note_required": "note"}


class MoveForm(forms.Form):
    """Where a journey goes next. Leaving the path asks why, in the clinic's own words; the service
    decides whether the move is allowed, so a stale form can never move a journey the wrong way."""

    to_stage = forms.ChoiceField(label="Move to", choices=Stage.choices, widget=forms.RadioSelect)
    reason = forms.ChoiceField(
        label="Why is the patient leaving the path?",
        choices=[("", "Choose a reason…"), *ExitReason.choices],
        required=False,
    )
    note = forms.CharField(
        label="What happened",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "A few words for the team"}),
    )

    def __init__(self, *args, journey: Journey, moves: list[str] | None = None, **kwargs):
        """``moves``: the journey's ``allowed_moves``, when the caller has worked them out already."""
        kwargs.setdefault("auto_id", f"move{journey.pk}_%s")
        super().__init__(*args, **kwargs)
        self.journey = journey
        self.moves = allowed_moves(journey) if moves is None else list(moves)
        self.fields["to_stage"].widget.choices = [(stage, Stage(stage).label) for stage in self.moves]
        self.offers_exit = any(stage in OFF_PATH for stage in self.moves)
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.disable_csrf = True
        fields = [Field("to_stage")]
        if self.offers_exit:
            fields += [
                Field("reason", css_class="form-select-sm"),
                Field("note", css_class="form-control-sm"),
            ]
        else:
            fields += [Field("note", css_class="form-control-sm")]
        self.helper.layout = Layout(*fields)

    def clean(self):
        data = super().clean()
        if data.get("to_stage") not in OFF_PATH:
            data["reason"] = ""  # a reason is only recorded when a patient leaves the path
        data["note"] = (data.get("note") or "").strip()
        return data


class PipelineFilterForm(forms.Form):
    lead = forms.TypedChoiceField(
        required=False, coerce=int, empty_value=None, label="Lead practitioner", widget=PlainSelect
    )
    program = forms.TypedChoiceField(
        required=False, coerce=int, empty_value=None, label="Program", widget=PlainSelect
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Plain text pairs both: set as they are (``offer_plain_choices``), not walked twice by Django's setters.
        offer_plain_choices(self.fields["lead"], [("", "Any lead"), ("0", "No lead yet"), *lead_choices()])
        programs = [
            (str(pk), name if active else f"{name} (retired)") for pk, name, active in program_options()
        ]
        offer_plain_choices(self.fields["program"], [("", "Any program"), *programs])
        for name in self.fields:
            self.fields[name].widget.attrs["class"] = "form-select"

    def filters(self) -> dict:
        if not self.is_valid():
            return {}
        return {"lead_id": self.cleaned_data.get("lead"), "program_id": self.cleaned_data.get("program")}

    def is_narrowed(self) -> bool:
        return any(value is not None for value in self.filters().values())
