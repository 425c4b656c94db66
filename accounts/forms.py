from allauth.account.forms import LoginForm
from django import forms

from .throttle import USERNAME_MAX

TOO_LONG = (
    f"That username is longer than any account's ({USERNAME_MAX} characters at most). Check it and try again."
)


class SignInForm(LoginForm):
    """allauth's sign-in form, refusing a username longer than any account's with words, not an error page."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # allauth's ``login`` field has max_length (the username's), whose validator refuses an over-long
        # username before clean_login runs: its message, by code, is ours.
        self.fields["login"].error_messages["max_length"] = TOO_LONG

    def clean_login(self) -> str:
        login = super().clean_login()
        if len(login) > USERNAME_MAX:  # should allauth's field ever lose its max_length
            raise forms.ValidationError(TOO_LONG, code="max_length")
        return login
