"""What a patient's text back means: an opt-out, a restart, a request for help — or words for the care team.

A reply is first *normalised*: case folded, curly apostrophes made straight, "opt out", "opt-out" and
"opt me out" joined into ``optout`` (likewise ``optin``), and split into words on anything that is not a
letter, digit or apostrophe. Then, for a *short reply* — at most ``SHORT_REPLY_WORDS`` words:

- **opt-out** when it holds one of the seven revocation words the FCC names (stop, quit, end, revoke, opt out,
  cancel, unsubscribe; and ``stopall``) and every other word only says what or how to stop ("please", "me",
  "all", "texting", "messages", "now", …). A visit word ("appointment", "visit", …) may join stop, quit,
  revoke, opt out or unsubscribe ("stop appointment reminders"), but not cancel or end: "cancel my
  appointment" is about the visit, not the texts.
- **restart** when it holds START or UNSTOP and nothing but such words (opt-out wins if both appear);
- **help** when it holds HELP or INFO and nothing but such words;
- **yes** when it holds YES and nothing but a few plain words ("Yes please", "yes that was me"). A yes only
  confirms a request for texts that we asked that number about (``nudges.services.sms_inbound``); any
  other yes answers a question and is kept for the care team.

Anything else is kept for the care team, even when it holds one of those words: "the weekend was hard",
"Should I stop the magnesium?", "cancel my appointment", "don't stop", "I need help with my plan".
"""

from __future__ import annotations

import re
from enum import StrEnum

SHORT_REPLY_WORDS = 8

REVOCATION_WORDS = frozenset({"stop", "stopall", "quit", "end", "revoke", "optout", "cancel", "unsubscribe"})
VISIT_BOUND = frozenset({"cancel", "end"})  # in a clinic, these two are often about a visit
RESTART_WORDS = frozenset({"start", "unstop", "optin"})
HELP_WORDS = frozenset({"help", "info"})
YES_WORDS = frozenset({"yes"})
# Never "no", "not", "don't": only words that leave a yes a yes.
YES_COMPANIONS = frozenset(
    {"please", "pls", "plz", "thanks", "thank", "you", "thx", "ok", "okay", "sure", "i", "do", "confirm"}
    | {"that", "that's", "was", "me", "it", "it's", "is", "its"}
)

# Words that only say what or how: they never change what a keyword means.
COMPANIONS = frozenset(
    {
        *(
            "please",
            "pls",
            "plz",
            "now",
            "asap",
            "immediately",
            "again",
            "thanks",
            "thank",
            "you",
            "thx",
            "ok",
        ),
        *("okay", "and", "i", "want", "to", "would", "like", "me", "my", "us", "all", "it", "this", "these"),
        *("that", "them", "the", "any", "more", "anymore", "no", "from", "your", "of", "wrong", "number"),
        *("text", "texts", "texting", "txt", "sms", "message", "messages", "messaging", "msg", "msgs"),
        *("send", "sending", "contact", "contacting", "calling", "reminder", "reminders", "notifications"),
        *("alerts", "subscription"),
    }
)
VISIT_WORDS = frozenset(
    {"appointment", "appointments", "appt", "appts", "visit", "visits", "booking", "session", "consult"}
)


class Meaning(StrEnum):
    OPT_OUT = "opt_out"
    RESTART = "restart"
    HELP = "help"
    YES = "yes"
    WORDS = "words"  # for the care team


_JOINED = (
    (re.compile(r"\bopt[\s_-]*(?:me[\s_-]+)?out\b"), "optout"),
    (re.compile(r"\bopt[\s_-]*(?:me[\s_-]+)?in\b"), "optin"),
    (re.compile(r"\bstop[\s_-]*all\b"), "stopall"),
)
_NOT_A_WORD = re.compile(r"[^\w']+|_")


def words_of(body: str) -> list[str]:
    """The reply's words after normalising (see the module's docstring)."""
    text = body.casefold().replace("\u2019", "'").replace("\u2018", "'")
    for pattern, joined in _JOINED:
        text = pattern.sub(joined, text)
    return [word.strip("'") for word in _NOT_A_WORD.split(text) if word.strip("'")]


def meaning_of(body: str) -> Meaning:
    words = words_of(body)
    if not words or len(words) > SHORT_REPLY_WORDS:
        return Meaning.WORDS
    present = set(words)
    revoking = present & REVOCATION_WORDS
    if revoking:
        allowed = REVOCATION_WORDS | COMPANIONS | RESTART_WORDS
        if revoking - VISIT_BOUND:
            allowed |= VISIT_WORDS
        if present <= allowed:
            return Meaning.OPT_OUT
        return Meaning.WORDS
    if present & RESTART_WORDS and present <= RESTART_WORDS | COMPANIONS:
        return Meaning.RESTART
    if present & HELP_WORDS and present <= HELP_WORDS | COMPANIONS:
        return Meaning.HELP
    if present & YES_WORDS and present <= YES_WORDS | YES_COMPANIONS:
        return Meaning.YES
    return Meaning.WORDS
