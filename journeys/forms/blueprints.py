"""Forms of the blueprint builder. They validate and normalise; the services in
``journeys.services.blueprints`` make the changes (and check the same rules again)."""

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Column, Layout, Row, Submit
from django import forms

from ..models import BlueprintItem, BlueprintTemplate, ItemKind
from ..services.blueprints import STATUS_REASON_MAX


class BlueprintItemForm(forms.Form):
    kind = forms.ChoiceField(choices=ItemKind.choices)
    title = forms.CharField(
        max_length=200,
        error_messages={"required": "Give the item a title the patient will recognise."},
        help_text="What the patient will see, e.g. “Magnesium glycinate” or “Walk after dinner”.",
    )
    dose = forms.CharField(max_length=100, required=False, help_text="e.g. 200 mg, 2 capsules, 20 minutes.")
    frequency = forms.CharField(max_length=100, required=False, help_text="e.g. twice a day with food.")
    starts_on = forms.DateField(required=False, label="Start", widget=forms.DateInput(attrs={"type": "date"}))
    ends_on = forms.DateField(required=False, label="End", widget=forms.DateInput(attrs={"type": "date"}))
    instructions = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="In plain words for the patient; this is printed on their plan.",
    )

    def __init__(self, *args, submit_label: str = "Add to the plan", **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.layout = Layout(
            Row(Column("kind", css_class="col-md-4"), Column("title", css_class="col-md-8")),
            Row(Column("dose", css_class="col-md-6"), Column("frequency", css_class="col-md-6")),
            Row(Column("starts_on", css_class="col-md-6"), Column("ends_on", css_class="col-md-6")),
            "instructions",
            Submit("save", submit_label),
        )

    def clean_title(self):
        title = self.cleaned_data["title"].strip()
        if not title:
            raise forms.ValidationError("Give the item a title the patient will recognise.")
        return title

    def clean(self):
        cleaned = super().clean()
        starts_on, ends_on = cleaned.get("starts_on"), cleaned.get("ends_on")
        if starts_on and ends_on and ends_on < starts_on:
            self.add_error("ends_on", "The end date cannot be before the start date.")
        return cleaned

    @classmethod
    def initial_for(cls, item: BlueprintItem) -> dict:
        return {name: getattr(item, name) for name in cls.base_fields}


class BlueprintStartForm(forms.Form):
    template = forms.ModelChoiceField(
        queryset=BlueprintTemplate.objects.none(),
        required=False,
        label="Start from template",
    )

    def __init__(self, *args, templates=None, has_published: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["template"]
        field.queryset = templates if templates is not None else BlueprintTemplate.objects.all()
        field.empty_label = "— copy the current plan —" if has_published else "— a blank plan —"
        self.helper = FormHelper()
        self.helper.form_tag = False


class BlueprintSummaryForm(forms.Form):
    summary = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="The path forward",
        help_text="A few sentences in words the patient understands; it opens their printed plan.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_tag = False


class BlueprintPublishForm(forms.Form):
    reason = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        label="Why the plan is being revised",
        help_text="Kept with this version on the record; the patient does not see it.",
    )

    def __init__(self, *args, revision: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.revision = revision
        if revision:
            self.fields["reason"].required = True
            self.fields["reason"].error_messages["required"] = (
                "Say why the plan is being revised; it stays on the record with this version."
            )
        else:
            self.fields["reason"].label = "Note (optional)"
            self.fields["reason"].help_text = "The first version needs no reason."
        self.helper = FormHelper()
        self.helper.form_tag = False


class BlueprintItemStatusForm(forms.Form):
    status = forms.ChoiceField(
        choices=[
            (BlueprintItem.Status.PAUSED, "Pause"),
            (BlueprintItem.Status.STOPPED, "Stop"),
            (BlueprintItem.Status.ACTIVE, "Resume"),
        ]
    )
    reason = forms.CharField(max_length=STATUS_REASON_MAX, required=False, strip=True)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("status") in (BlueprintItem.Status.PAUSED, BlueprintItem.Status.STOPPED) and not (
            cleaned.get("reason")
        ):
            self.add_error("reason", "Say why, in a few words; it stays on the record.")
        return cleaned


class BlueprintItemMoveForm(forms.Form):
    direction = forms.ChoiceField(choices=[("up", "Up"), ("down", "Down")])
