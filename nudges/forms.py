from datetime import datetime

from django import forms
from django.utils import timezone

from patients.models import Channel


class OneOffMessageForm(forms.Form):
    """A message a staff member writes to one patient; sent now or at a time in the patient's own zone."""

    channel = forms.ChoiceField(choices=Channel.choices)
    subject = forms.CharField(max_length=150, required=False, help_text="Email only.")
    message = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), max_length=1500)
    send_at = forms.DateTimeField(
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        label="Send at (patient's local time)",
        help_text="Leave empty to send now. Quiet hours still apply.",
    )

    def __init__(self, *args, patient, **kwargs):
        super().__init__(*args, **kwargs)
        self.patient = patient
        self.fields["channel"].initial = patient.preferred_channel

    def clean_send_at(self):
        value = self.cleaned_data.get("send_at")
        if value is None:
            return None
        local = datetime.combine(value.date(), value.time(), tzinfo=self.patient.tz)
        if local < timezone.now() - timezone.timedelta(minutes=1):
            raise forms.ValidationError(
                "That time has passed. Choose a time in the future, or leave it empty."
            )
        return local

    def clean(self):
        cleaned = super().clean()
        channel = cleaned.get("channel")
        if channel == Channel.SMS and not self.patient.phone:
            self.add_error("channel", "This patient has no mobile number.")
        if channel == Channel.EMAIL and not self.patient.email:
            self.add_error("channel", "This patient has no email address.")
        if channel == Channel.SMS and len(cleaned.get("message") or "") > 600:
            self.add_error(
                "message", "Text messages are best under 600 characters; shorten it or send an email."
            )
        return cleaned
