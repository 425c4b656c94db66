"""The signed link a patient follows to confirm consent someone asked for on their behalf."""

from datetime import timedelta

from django.core import signing

SALT = "patients.consent-confirm"
MAX_AGE = timedelta(days=7)


def consent_confirm_token(request_id: int) -> str:
    return signing.TimestampSigner(salt=SALT).sign_object(request_id)


def read_consent_confirm_token(token: str) -> int:
    """The ConsentRequest id the token was signed for; ``signing.BadSignature`` (or its subclass
    ``SignatureExpired`` after ``MAX_AGE``) when it was changed, forged or is too old."""
    value = signing.TimestampSigner(salt=SALT).unsign_object(token, max_age=MAX_AGE)
    if not isinstance(value, int) or isinstance(value, bool):
        raise signing.BadSignature("not a consent request id")
    return value


REFERRAL_SALT = "patients.referral-link"


def referral_token(code: str) -> str:
    """``code`` signed for a referral link (``/inquire/?ref=<token>``): no patient data, no expiry."""
    return signing.Signer(salt=REFERRAL_SALT).sign(code)


def read_referral_token(token: str) -> str:
    """The advocate's code the token was signed for; ``signing.BadSignature`` when altered or forged."""
    return signing.Signer(salt=REFERRAL_SALT).unsign(token)
