from django import forms
from django.contrib.auth.forms import AuthenticationForm

from .throttle import USERNAME_MAX


class SignInForm(AuthenticationForm):
    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "That username and password do not match an account. Check both and try again.",
        "inactive": "This account has been switched off. Ask your clinic admin to restore it.",
    }

    def clean_username(self):
        # AuthenticationForm sets the field's max_length after the field is built, so it is never checked.
        username = self.cleaned_data["username"]
        if len(username) > USERNAME_MAX:
            raise forms.ValidationError(
                f"That username is longer than any account's ({USERNAME_MAX} characters at most). "
                "Check it and try again.",
                code="max_length",
            )
        return username
