"""The public "Get in touch" form. Its field names are a public interface: clinics post to them from their own sites."""

from crispy_forms.helper import FormHelper
from crispy_forms.layout import HTML, Column, Div, Fieldset, Layout, Row
from django import forms

from patients.validation import normalize_phone

from ..models import Inquiry

HONEYPOT = "website"
MESSAGE_MAX = 5000
TRUE_VALUES = {"on", "true", "1"}


class ConsentCheckbox(forms.CheckboxInput):
    """Consent counts only when it is said plainly: "on", "true" or "1". Anything else ("0", "no", "off",
    "false", "maybe") is no consent — a plain CheckboxInput would read "0" and "no" as yes."""

    def value_from_datadict(self, data, files, name):
        return str(data.get(name, "")).strip().lower() in TRUE_VALUES


class InquiryForm(forms.Form):
    first_name = forms.CharField(
        max_length=100,
        label="First name",
        error_messages={
            "required": "Please tell us your first name.",
            "max_length": "Please keep your first name under 100 characters.",
        },
        widget=forms.TextInput(attrs={"autocomplete": "given-name"}),
    )
    last_name = forms.CharField(
        max_length=100,
        label="Last name",
        error_messages={
            "required": "Please tell us your last name.",
            "max_length": "Please keep your last name under 100 characters.",
        },
        widget=forms.TextInput(attrs={"autocomplete": "family-name"}),
    )
    email = forms.EmailField(
        required=False,
        max_length=254,
        label="Email",
        error_messages={
            "invalid": "That doesn't look like an email address. Please check it — it should look like "
            "name@example.com.",
            "max_length": "That email address is too long for us to keep. Please check it.",
        },
        widget=forms.EmailInput(attrs={"autocomplete": "email", "inputmode": "email"}),
    )
    phone = forms.CharField(
        required=False,
        max_length=40,
        label="Mobile phone",
        error_messages={"max_length": "That phone number is too long. Please check it."},
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel", "inputmode": "tel"}),
    )
    message = forms.CharField(
        required=False,
        max_length=MESSAGE_MAX,
        label="What brings you to us?",
        help_text="A few words are plenty — there will be time to tell us everything when we talk.",
        error_messages={
            "max_length": "Please keep your message under 5,000 characters (it has %(show_value)d). "
            "You can tell us the rest when we talk."
        },
        widget=forms.Textarea(attrs={"rows": 5}),
    )
    how_heard = forms.ChoiceField(
        required=False,
        label="How did you hear about us?",
        choices=[("", "Choose one (optional)"), *Inquiry.HowHeard.choices],
        error_messages={"invalid_choice": "Please choose one of the options in the list."},
    )
    referred_by_name = forms.CharField(
        required=False,
        max_length=200,
        label="Who referred you? (optional)",
        help_text="If someone told you about us, we would love to thank them.",
        error_messages={"max_length": "Please keep this under 200 characters."},
    )
    # An advocate's personal link (/inquire/?ref=…) fills this in; a signed code, nothing about anyone.
    ref = forms.CharField(required=False, max_length=100, widget=forms.HiddenInput)
    consent_email = forms.BooleanField(required=False, label="Yes, you may email me", widget=ConsentCheckbox)
    consent_sms = forms.BooleanField(
        required=False, label="Yes, you may send me text messages", widget=ConsentCheckbox
    )
    # The honeypot: hidden from people, filled in by bots. The view checks it before anything else.
    website = forms.CharField(
        required=False,
        label="Leave this field empty",
        widget=forms.TextInput(attrs={"autocomplete": "off", "tabindex": "-1"}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.disable_csrf = True  # the view is csrf_exempt: see journeys/views/inquiry.py
        self.helper.layout = Layout(
            Fieldset(
                "About you",
                Row(Column("first_name", css_class="col-sm"), Column("last_name", css_class="col-sm")),
            ),
            Fieldset(
                "How can we reach you?",
                HTML('<p class="form-text mt-n1 mb-2">An email address, a phone number, or both.</p>'),
                Row(Column("email", css_class="col-sm"), Column("phone", css_class="col-sm")),
                HTML(
                    '<p class="form-text mb-2">May we write to you? We will only use this to reply to you and '
                    "to look after your care, and you can stop it at any time.</p>"
                ),
                "consent_email",
                "consent_sms",
                css_class="mt-2",
            ),
            Fieldset("Your message", "message", "how_heard", "referred_by_name", "ref", css_class="mt-2"),
            Div(
                HONEYPOT,
                css_class="inquiry-hp",
                aria_hidden="true",
            ),
        )

    def clean_phone(self):
        return normalize_phone(self.cleaned_data.get("phone", ""))

    def clean(self):
        cleaned = super().clean()
        email_ok, phone_ok = "email" not in self.errors, "phone" not in self.errors
        email, phone = cleaned.get("email"), cleaned.get("phone")
        if email_ok and phone_ok and not email and not phone:
            self.add_error(
                None, "Please give us an email address or a phone number, so that we can get back to you."
            )
        if cleaned.get("consent_email") and email_ok and not email:
            self.add_error("consent_email", "To hear from us by email, please add your email address above.")
        if cleaned.get("consent_sms") and phone_ok and not phone:
            self.add_error(
                "consent_sms", "To hear from us by text message, please add your mobile number above."
            )
        return cleaned

    def inquiry_data(self) -> dict:
        """The cleaned values ``inquiry_receive`` takes (the honeypot is not among them)."""
        return {name: value for name, value in self.cleaned_data.items() if name != HONEYPOT}
