from allauth.account.forms import LoginForm
from django import forms

from .throttle import USERNAME_MAX


class SignInForm(LoginForm):
    """allauth's sign-in form, refusing a username longer than any account's with words, not an error page."""

    def clean_login(self) -> str:
        login = super().clean_login()
        if len(login) > USERNAME_MAX:
            raise forms.ValidationError(
                f"That username is longer than any account's ({USERNAME_MAX} characters at most). "
                "Check it and try again.",
                code="max_length",
            )
        return login
