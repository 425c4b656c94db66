"""Signed links in nudges. Each purpose has its own salt, so a token made for one is refused by another."""

import re

from django.core import signing
from django.utils.crypto import constant_time_compare, salted_hmac

UNSUBSCRIBE_SALT = "alliance.nudges.unsubscribe"


def unsubscribe_token(*, patient_id: int, nudge_id: int | None = None) -> str:
    return signing.dumps({"p": patient_id, "n": nudge_id}, salt=UNSUBSCRIBE_SALT, compress=True)


def read_unsubscribe_token(token: str) -> tuple[int, int | None]:
    """(patient id, nudge id), or raise ``signing.BadSignature`` for a tampered or foreign token."""
    data = signing.loads(token, salt=UNSUBSCRIBE_SALT)
    if not isinstance(data, dict) or not isinstance(data.get("p"), int):
        raise signing.BadSignature("unexpected token content")
    return data["p"], data.get("n")


REPLY_SALT = "alliance.nudges.reply-to"
REPLY_ADDRESS = re.compile(r"reply\+(?P<token>[0-9]+-[0-9a-f]{16})@", re.IGNORECASE)


# New addresses are proved with SHA-256; SHA-1 (Django's old default) is still read, for replies to messages
# sent before the change.
REPLY_ALGORITHMS = ("sha256", "sha1")


def reply_token(*, nudge_id: int, algorithm: str = REPLY_ALGORITHMS[0]) -> str:
    """``<nudge id>-<proof>``: the local part of a message's own reply-to address (letters an address keeps)."""
    return f"{nudge_id}-{salted_hmac(REPLY_SALT, str(nudge_id), algorithm=algorithm).hexdigest()[:16]}"


def read_reply_address(address: str) -> int | None:
    """The nudge a reply-to address was made for, or None for any other or an altered address."""
    match = REPLY_ADDRESS.search(address or "")
    if match is None:
        return None
    token = match["token"].lower()
    nudge_id = int(token.split("-", 1)[0])
    proved = any(
        constant_time_compare(token, reply_token(nudge_id=nudge_id, algorithm=algorithm))
        for algorithm in REPLY_ALGORITHMS
    )
    return nudge_id if proved else None
