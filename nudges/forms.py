from collections.abc import Callable
from datetime import UTC, timedelta

from django import forms
from django.http import QueryDict
from django.utils import timezone

from accounts.once import rendered_once
from patients.models import Channel
from patients.selectors import patient_may_message

from .models import Kind, Nudge
from .selectors import View

GRACE = timedelta(minutes=1)  # a time typed a moment ago still counts as "now"


class OneOffMessageForm(forms.Form):
    """A message a staff member writes to one patient; sent now or at a time in the patient's own zone."""

    channel = forms.ChoiceField(
        choices=Channel.choices,
        error_messages={"invalid_choice": "Choose email or SMS.", "required": "Choose how to send it."},
    )
    subject = forms.CharField(max_length=150, required=False, help_text="Email only.")
    message = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        max_length=1500,
        error_messages={"required": "Write the message before sending it."},
    )
    send_at = forms.DateTimeField(
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        label="Send at (patient's local time)",
        help_text="Leave empty to send now. Quiet hours still apply.",
    )

    def __init__(self, *args, patient, **kwargs):
        super().__init__(*args, **kwargs)
        self.patient = patient
        self.reachable = {channel: patient_may_message(patient, channel) for channel in Channel.values}
        # Only the channels that can reach the patient now (consent for their current address, not
        # unsubscribed or archived) are offered; another one posted anyway is refused in clean() with why.
        self.fields["channel"].choices = [
            (channel.value, channel.label) for channel in Channel if self.reachable[channel.value][0]
        ]
        preferred = patient.preferred_channel
        if not self.reachable[preferred][0]:
            preferred = next((c for c, (ok, _) in self.reachable.items() if ok), preferred)
        self.fields["channel"].initial = preferred
        self.fields["send_at"].label = f"Send at ({patient.time_zone.replace('_', ' ')} time)"

    def full_clean(self):
        # The typed time is a wall-clock time where the patient lives, not where the clinic is: a time
        # that does not exist there (a spring-forward gap) or happens twice is refused with a message.
        with timezone.override(self.patient.tz):
            super().full_clean()

    def clean_send_at(self):
        value = self.cleaned_data.get("send_at")
        if value is None:
            return None
        if value < timezone.now() - GRACE:
            raise forms.ValidationError(
                "That time has passed. Choose a time in the future, or leave it empty."
            )
        return value.astimezone(UTC)

    def clean(self):
        cleaned = super().clean()
        posted = self.data.get(self.add_prefix("channel"))
        if "channel" in self._errors and posted in self.reachable:  # a channel that cannot reach them now
            del self._errors["channel"]
            cleaned["channel"] = posted
        channel = cleaned.get("channel")
        if channel == Channel.SMS and not self.patient.phone:
            self.add_error("channel", "This patient has no mobile number.")
        elif channel == Channel.EMAIL and not self.patient.email:
            self.add_error("channel", "This patient has no email address.")
        elif channel in self.reachable and not self.reachable[channel][0]:
            label = Channel(channel).label
            self.add_error(
                "channel", f"{label} cannot reach this patient now ({self.reachable[channel][1]})."
            )
        if channel == Channel.SMS and len(cleaned.get("message") or "") > 600:
            self.add_error(
                "message", "Text messages are best under 600 characters; shorten it or send an email."
            )
        return cleaned


class OutboxFilterForm(forms.Form):
    """The outbox's filters within one tab (``view``); every field is optional. The status choices are the
    tab's own; ``patient`` narrows to one patient (the Messages panel links here with it)."""

    status = forms.ChoiceField(
        required=False,
        choices=[("", "Any status"), *Nudge.Status.choices],
        error_messages={
            "invalid_choice": "This tab holds no message with that status: choose another, or open All."
        },
    )
    kind = forms.ChoiceField(required=False, choices=[("", "Any kind"), *Kind.choices])
    channel = forms.ChoiceField(required=False, choices=[("", "Any channel"), *Channel.choices])
    date_from = forms.DateField(
        required=False,
        label="From",
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"invalid": "“From” is not a date: use the calendar, or write it as 2026-04-14."},
    )
    date_to = forms.DateField(
        required=False,
        label="To",
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"invalid": "“To” is not a date: use the calendar, or write it as 2026-04-14."},
    )
    patient = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def __init__(self, *args, view: str = View.ALL, **kwargs):
        super().__init__(*args, **kwargs)
        self.view = view
        labels = dict(Nudge.Status.choices)
        self.fields["status"].choices = [("", "Any status")] + [
            (status.value, labels[status.value]) for status in View.statuses[view]
        ]
        for field in self.fields.values():
            if isinstance(field.widget, forms.HiddenInput):
                continue
            css = "form-select" if isinstance(field, forms.ChoiceField) else "form-control"
            field.widget.attrs.setdefault("class", css)

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and end < start:
            self.add_error("date_to", "“To” is before “From”: choose a later end date.")
        return cleaned

    def filters(self) -> dict:
        """Keyword arguments for ``selectors.outbox`` (the view included); only the view when the form is
        invalid."""
        if not self.is_valid():
            return {"view": self.view}
        data = self.cleaned_data
        return {
            "view": self.view,
            "status": data["status"],
            "kind": data["kind"],
            "channel": data["channel"],
            "date_from": data["date_from"],
            "date_to": data["date_to"],
            "patient_id": data["patient"],
        }

    def is_narrowed(self) -> bool:
        return any(value for name, value in self.filters().items() if name != "view")

    def widgets(self) -> dict[str, str]:
        """Each field's widget as HTML. With no filter given (how every tab opens) they are the same markup
        every time, so they are rendered once per tab (and process) rather than on every request: a dozen
        widget templates and their options' each time otherwise."""
        if self.is_bound and any(name in self.data for name in self.fields):
            return {name: str(self[name]) for name in self.fields}
        return _kept_widgets(self.view, self.is_bound, lambda: self)


def _kept_widgets(view: str, bound: bool, form: Callable[[], OutboxFilterForm]) -> dict[str, str]:
    """The widgets of a filter form given no filter, each rendered by ``form()``'s field the first time."""
    return {
        name: rendered_once(("outbox filter", view, bound, name), lambda name=name: str(form()[name]))
        for name in OutboxFilterForm.base_fields
    }


class UntouchedOutboxFilters:
    """What ``OutboxFilterForm(data or None, view=view)`` says when ``data`` names none of its fields (a tab as
    it opens, and each of its pages): no filter, no error, the widgets kept for that tab. No form is made
    (its fields copied, its data cleaned) but to render a widget the first time."""

    def __init__(self, data: QueryDict, *, view: str) -> None:
        self.data, self.view = data, view

    @property
    def errors(self) -> dict:
        return {}

    def filters(self) -> dict:
        if not self.data:  # as an unbound form's: only the view
            return {"view": self.view}
        return {
            "view": self.view, "status": "", "kind": "", "channel": "", "date_from": None, "date_to": None,
            "patient_id": None,
        }  # fmt: skip

    def is_narrowed(self) -> bool:
        return False

    def widgets(self) -> dict[str, str]:
        return _kept_widgets(
            self.view, bool(self.data), lambda: OutboxFilterForm(self.data or None, view=self.view)
        )


def outbox_filters(data: QueryDict, *, view: str) -> OutboxFilterForm | UntouchedOutboxFilters:
    """The outbox's filters as ``data`` (a request's query) gives them: the form, or, when it names none of the
    form's fields, what the form would say of it (``UntouchedOutboxFilters``)."""
    if any(name in data for name in OutboxFilterForm.base_fields):
        return OutboxFilterForm(data, view=view)
    return UntouchedOutboxFilters(data, view=view)


class ConversationReplyForm(OneOffMessageForm):
    """A reply written in the patient's conversation: sent now (quiet hours still apply), no time to choose."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        del self.fields["send_at"]
        self.fields["message"].label = "Your reply"
