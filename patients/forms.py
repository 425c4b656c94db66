from crispy_forms.helper import FormHelper
from crispy_forms.layout import HTML, Column, Div, Fieldset, Layout, Row
from django import forms
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from accounts.widgets import PlainSelect

from .models import CareTeamMember, Channel, CheckinHour, Patient, Testimonial, default_time_zone
from .selectors import lead_candidates, patient_find_duplicates, team_candidates
from .validation import (
    CARE_TEAM_FIELDS,
    LEAD_MUST_PRACTISE,
    UNKNOWN_CARE_TEAM_ROLE,
    normalize_phone,
    time_zone_names,
    validate_care_team_member,
    validate_consent_address,
    validate_preferred_channel,
    validate_quiet_hours,
)


class _PractitionerNames(forms.models.ModelChoiceIterator):
    """The options as ``(id, name)`` read with ``values_list``: the field's one query, without a ``User`` built
    for each of a clinic group's hundreds of practitioners on every page that shows the select."""

    def __iter__(self):
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        for pk, display_name, username in self.queryset.values_list("pk", "display_name", "username"):
            yield (pk, display_name or username)  # as ``User.__str__`` names them


def practitioner_options(
    field: forms.ModelChoiceField, rows: list[tuple[int, str, str]]
) -> tuple[tuple[object, str], ...]:
    """What ``field`` (a ``PractitionerChoiceField``) lists for these ``(id, display name, username)`` rows of
    its queryset's, read elsewhere: its empty label, then each practitioner's name."""
    empty_label = field.empty_label
    head = () if empty_label is None else (("", str(empty_label)),)
    return (*head, *[(pk, display_name or username) for pk, display_name, username in rows])


class PractitionerChoiceField(forms.ModelChoiceField):
    widget = (
        PlainSelect  # a clinic's hundreds of practitioners: options joined in Python, not a template each
    )
    iterator = _PractitionerNames

    def label_from_instance(self, obj):
        return str(obj)


class PatientForm(forms.ModelForm):
    """The patient's details. On create it also asks for the lead practitioner and the consent given."""

    time_zone = forms.ChoiceField(
        widget=PlainSelect,  # about 400 zones
        initial=default_time_zone,  # the clinic's; a bare ChoiceField would start on the list's first entry
        help_text="The patient's own time zone: messages respect their local quiet hours.",
    )
    lead = PractitionerChoiceField(
        queryset=lead_candidates(),
        label="Lead practitioner",
        help_text="The Chief Strategist of this patient's care.",
        error_messages={"invalid_choice": LEAD_MUST_PRACTISE},
    )
    consent_email = forms.BooleanField(
        required=False, label="The patient agrees to receive email from the clinic"
    )
    consent_sms = forms.BooleanField(
        required=False, label="The patient agrees to receive text messages (SMS)"
    )
    confirm_not_duplicate = forms.BooleanField(
        required=False, label="I checked: this is a different person — create the record anyway"
    )

    class Meta:
        model = Patient
        fields = list(Patient.EDITABLE_FIELDS)
        widgets = {
            "date_of_birth": forms.DateInput(attrs={"type": "date"}),
            "quiet_hours_start": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            "quiet_hours_end": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            "phone": forms.TextInput(attrs={"type": "tel", "autocomplete": "off"}),
        }
        help_texts = {"phone": "Mobile number; without a +country code we assume the clinic's country."}

    def __init__(self, *args, creating: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.creating = creating
        self.duplicates: list[Patient] = []
        zones = {*time_zone_names(), default_time_zone()}  # the clinic's may be one the list leaves out (UTC)
        if self.instance.pk:
            zones.add(self.instance.time_zone)
        self.fields["time_zone"].choices = [(name, name.replace("_", " ")) for name in sorted(zones)]
        self.fields["referred_by"].queryset = Patient.objects.active().only(
            "first_name", "last_name", "preferred_name"
        )
        self.fields["referred_by"].required = False
        self.fields["checkin_hour"].required = False
        if self.instance.pk:
            self.fields["referred_by"].queryset = self.fields["referred_by"].queryset.exclude(
                pk=self.instance.pk
            )
        if not creating:
            for name in ("lead", "consent_email", "consent_sms", "confirm_not_duplicate"):
                del self.fields[name]
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.layout = self._layout()

    def _layout(self):
        identity = Fieldset(
            "Who they are",
            Row(Column("first_name"), Column("last_name")),
            Row(Column("preferred_name"), Column("pronouns"), Column("date_of_birth")),
        )
        contact = Fieldset(
            "How to reach them",
            Row(Column("email"), Column("phone")),
            Row(Column("preferred_channel"), Column("time_zone")),
            Row(Column("quiet_hours_start"), Column("quiet_hours_end")),
            HTML(
                '<p class="form-text mt-n2">Quiet hours may wrap midnight: 20:00 to 08:00 is the default.</p>'
            ),
            "checkin_hour",
        )
        origin = Fieldset("How they found us", Row(Column("source"), Column("referred_by")))
        parts = [identity, contact, origin]
        if self.creating:
            parts.append(Fieldset("Care and consent", "lead", "consent_email", "consent_sms"))
            if self.duplicates:
                parts.insert(0, Div("confirm_not_duplicate", css_class="alert alert-warning"))
        return Layout(*parts)

    def clean_checkin_hour(self):
        # Left out of an older form's post: the usual hour.
        hour = self.cleaned_data.get("checkin_hour")
        return CheckinHour.MID_MORNING if hour in (None, "") else hour

    def clean_phone(self):
        return normalize_phone(self.cleaned_data.get("phone", ""))

    def clean_email(self):
        return (self.cleaned_data.get("email") or "").strip().lower()

    def clean(self):
        # The rules and their words are patients.validation's, shared with the services and the import.
        cleaned = super().clean()
        try:
            validate_quiet_hours(cleaned.get("quiet_hours_start"), cleaned.get("quiet_hours_end"))
        except ValidationError as error:
            self.add_error("quiet_hours_end", error)
        channel = cleaned.get("preferred_channel")
        address_field = "email" if channel == Channel.EMAIL else "phone"
        if channel and address_field in cleaned:
            try:
                validate_preferred_channel(
                    channel=channel, email=cleaned.get("email", ""), phone=cleaned.get("phone", "")
                )
            except ValidationError as error:
                self.add_error(address_field, error)
        if self.creating:
            for name, channel, address_field in (
                ("consent_email", Channel.EMAIL, "email"),
                ("consent_sms", Channel.SMS, "phone"),
            ):
                if cleaned.get(name):
                    try:
                        validate_consent_address(channel=channel, address=cleaned.get(address_field, ""))
                    except ValidationError as error:
                        self.add_error(name, error)
            self.duplicates = patient_find_duplicates(
                email=cleaned.get("email", ""), phone=cleaned.get("phone", ""), exclude_pk=self.instance.pk
            )
            if self.duplicates and not cleaned.get("confirm_not_duplicate"):
                self.helper.layout = self._layout()
                links = format_html_join(
                    ", ",
                    '<a href="{}">{}</a>',
                    ((reverse("dashboard:patient", args=[p.pk]), p.display_name) for p in self.duplicates),
                )
                raise ValidationError(
                    format_html(
                        "A patient with this email or phone already exists: {}. Open their record instead, "
                        "or tick the box below if this is a different person.",
                        links,
                    ),
                    code="duplicate",
                )
        return cleaned

    def patient_data(self) -> dict:
        return {name: self.cleaned_data[name] for name in self.Meta.fields if name in self.cleaned_data}


class ConsentForm(forms.Form):
    channel = forms.ChoiceField(choices=Channel.choices)
    granted = forms.TypedChoiceField(
        coerce=lambda v: v == "yes", choices=[("yes", "grant"), ("no", "withdraw")]
    )
    note = forms.CharField(
        max_length=255,
        required=False,
        help_text="How the patient told you (phone call, in person, by email).",
    )


class ChangeLeadForm(forms.Form):
    lead = PractitionerChoiceField(
        queryset=lead_candidates(),
        label="New lead practitioner",
        error_messages={
            "invalid_choice": LEAD_MUST_PRACTISE,
            "required": "Choose the new lead practitioner.",
        },
    )
    keep_previous = forms.BooleanField(
        required=False, initial=True, label="Keep the previous lead on the care team as a practitioner"
    )
    note = forms.CharField(max_length=255, required=False, label="Why (optional)")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_tag = False


class CareTeamMemberForm(forms.Form):
    ROLE_CHOICES = [(r.value, r.label) for r in CareTeamMember.Role if r != CareTeamMember.Role.LEAD]

    role = forms.ChoiceField(
        choices=ROLE_CHOICES,
        error_messages={"invalid_choice": UNKNOWN_CARE_TEAM_ROLE, "required": UNKNOWN_CARE_TEAM_ROLE},
    )
    user = PractitionerChoiceField(queryset=team_candidates(), required=False, label="Colleague")
    external_name = forms.CharField(max_length=120, required=False, label="Specialist's name")
    external_practice = forms.CharField(max_length=120, required=False, label="Practice")
    external_contact = forms.CharField(max_length=200, required=False, label="Contact")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_tag = False

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("role") and "user" in cleaned:
            try:
                validate_care_team_member(
                    role=cleaned["role"], user=cleaned["user"], external_name=cleaned.get("external_name", "")
                )
            except ValidationError as error:
                self.add_error(CARE_TEAM_FIELDS[error.code], error)
        return cleaned


class MarketingConsentForm(forms.Form):
    granted = forms.TypedChoiceField(
        coerce=lambda v: v == "yes", choices=[("yes", "grant"), ("no", "withdraw")]
    )
    via = forms.CharField(
        max_length=60,
        required=False,
        help_text="How the patient told you (phone call, in person, by email).",
    )


class TestimonialForm(forms.Form):
    words = forms.CharField(
        label="The patient's own words",
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=2000,
        error_messages={"required": "Write down the patient's own words."},
    )
    places = forms.MultipleChoiceField(
        label="Where they agreed it may be shown",
        choices=Testimonial.Place.choices,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose where the patient agreed it may be shown."},
    )
    show_name = forms.CharField(
        label="Shown as", max_length=100, required=False, help_text="“Hannah K.”, or empty for anonymous."
    )
