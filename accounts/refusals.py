"""How a refusal reaches the person who asked: one sentence for a flash message, or errors on a form.

A refusal is a service's ``ValidationError`` or a bound form's errors. Either is shown in the words it was
raised with (services and forms word their messages for clinicians); nothing is added or rephrased here.
"""

from __future__ import annotations

from collections.abc import Mapping

from django import forms
from django.core.exceptions import ValidationError


def validation_message(refusal: ValidationError | forms.BaseForm) -> str:
    """A service's ValidationError, or every error of a bound form, as the sentence of a flash message."""
    if isinstance(refusal, forms.BaseForm):
        return " ".join(message for errors in refusal.errors.values() for message in errors)
    return " ".join(refusal.messages)


def add_service_error(
    form: forms.BaseForm, error: ValidationError, *, fields: Mapping[str, str] | None = None
) -> None:
    """Put a service's refusal on ``form``, in the service's words: next to the field its ``code`` names in
    ``fields`` (or, for a model's field errors, next to that field), else at the top of the form."""
    if hasattr(error, "error_dict"):
        for name, errors in error.error_dict.items():
            form.add_error(name if name in form.fields else None, errors)
        return
    field = (fields or {}).get(getattr(error, "code", None) or "")
    form.add_error(field if field in form.fields else None, error)
