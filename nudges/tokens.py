"""Signed links in nudges. Each purpose has its own salt, so a token made for one is refused by another."""

from django.core import signing

UNSUBSCRIBE_SALT = "alliance.nudges.unsubscribe"


def unsubscribe_token(*, patient_id: int, nudge_id: int | None = None) -> str:
    return signing.dumps({"p": patient_id, "n": nudge_id}, salt=UNSUBSCRIBE_SALT, compress=True)


def read_unsubscribe_token(token: str) -> tuple[int, int | None]:
    """(patient id, nudge id), or raise ``signing.BadSignature`` for a tampered or foreign token."""
    data = signing.loads(token, salt=UNSUBSCRIBE_SALT)
    if not isinstance(data, dict) or not isinstance(data.get("p"), int):
        raise signing.BadSignature("unexpected token content")
    return data["p"], data.get("n")
