from django import forms
from django.core.exceptions import ValidationError

from accounts.refusals import add_service_error, validation_message


class NoteForm(forms.Form):
    title = forms.CharField(error_messages={"required": "Give the note a title."})
    body = forms.CharField(required=False)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("body") == "shout":
            raise ValidationError("Write it calmly.")
        return cleaned


def test_a_service_refusal_is_said_in_its_own_words():
    error = ValidationError(["The lead must be an active practitioner.", "And one more thing."])
    assert validation_message(error) == "The lead must be an active practitioner. And one more thing."


def test_a_form_says_every_error_in_its_own_words_without_field_labels():
    form = NoteForm({"title": "", "body": "shout"})
    assert not form.is_valid()
    assert validation_message(form) == "Give the note a title. Write it calmly."


def test_a_service_refusal_lands_next_to_the_field_its_code_names():
    form = NoteForm({"title": "Follow-up"})
    assert form.is_valid()
    add_service_error(form, ValidationError("Taken.", code="title_taken"), fields={"title_taken": "title"})
    assert form.errors == {"title": ["Taken."]}


def test_a_refusal_with_an_unknown_code_or_field_goes_to_the_top_of_the_form():
    form = NoteForm({"title": "Follow-up"})
    assert form.is_valid()
    add_service_error(form, ValidationError("Nope.", code="other"), fields={"other": "no_such_field"})
    add_service_error(form, ValidationError({"title": "Too long.", "time_zone": "Unknown zone."}))
    assert form.errors == {"__all__": ["Nope.", "Unknown zone."], "title": ["Too long."]}
