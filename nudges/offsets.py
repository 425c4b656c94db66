"""A nudge rule's timing in words: "1 day before, 2 hours before" for ``[-1440, -120]``, and back.

Admins write and read the timing of a rule in these words; the rule keeps minutes relative to its event
(negative before it, positive after it).
"""

from __future__ import annotations

import re

MINUTES = {"week": 7 * 24 * 60, "day": 24 * 60, "hour": 60, "minute": 1}
UNIT_WORDS = {
    "w": "week", "wk": "week", "wks": "week", "week": "week", "weeks": "week",
    "d": "day", "day": "day", "days": "day",
    "h": "hour", "hr": "hour", "hrs": "hour", "hour": "hour", "hours": "hour",
    "m": "minute", "min": "minute", "mins": "minute", "minute": "minute", "minutes": "minute",
}  # fmt: skip
NUMBER_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "six": 6, "twelve": 12}
AT_THE_TIME = {"at the time", "at once", "right away", "straight away", "immediately", "when it happens", "0"}
MOST_MINUTES = 30 * 24 * 60  # a month either side of the event is as far as any rule reaches
EXAMPLE = "“1 day before, 2 hours before”, “1 day after” or “at the time”"
# "1 day 2 hours before", "90 minutes after", "1h30m before", "an hour before"
AMOUNT = re.compile(r"(\d+|[a-z]+)\s*([a-z]+)")


class TimingError(ValueError):
    """Words that say no timing we can read; the message says what to write instead."""


def _duration(words: str) -> int | None:
    """Minutes in "1 day 2 hours" (None when any part is not an amount and a unit)."""
    total, position = 0, 0
    for match in AMOUNT.finditer(words):
        if words[position : match.start()].strip():
            return None
        amount, unit = match.groups()
        count = int(amount) if amount.isdigit() else NUMBER_WORDS.get(amount)
        if count is None or unit not in UNIT_WORDS:
            return None
        total += count * MINUTES[UNIT_WORDS[unit]]
        position = match.end()
    if words[position:].strip() or position == 0:
        return None
    return total


def _one(part: str) -> int:
    words = " ".join(part.lower().replace(".", " ").split())
    if words in AT_THE_TIME:
        return 0
    for direction, sign in (("before", -1), ("after", 1), ("later", 1)):
        if words.endswith(" " + direction):
            minutes = _duration(words[: -len(direction) - 1].replace(" and ", " "))
            if minutes is not None:
                if minutes > MOST_MINUTES:
                    raise TimingError(
                        f"“{part.strip()}” is too far from the event: keep each time within 30 days."
                    )
                return sign * minutes
    raise TimingError(f"“{part.strip()}” could not be read. Write each time in words, such as {EXAMPLE}.")


def words_to_offsets(text: str) -> list[int]:
    """``[-1440, -120]`` from "1 day before, 2 hours before"; times are kept in the order written, each
    once. Empty words are an empty list."""
    offsets: list[int] = []
    for part in re.split(r"[,;\n]", text or ""):
        if part.strip() and (minutes := _one(part)) not in offsets:
            offsets.append(minutes)
    return offsets


def duration_words(minutes: int) -> str:
    """120 → "2 hours", 1530 → "1 day 1 hour 30 minutes"."""
    minutes = abs(int(minutes))
    parts = []
    for unit, size in MINUTES.items():
        if unit == "week" and minutes % size:
            continue  # "9 days", never "1 week 2 days"
        count, minutes = divmod(minutes, size)
        if count:
            parts.append(f"{count} {unit}{'s' if count != 1 else ''}")
    return " ".join(parts)


def offsets_to_words(offsets) -> str:
    """ "1 day before, 2 hours before" from ``[-1440, -120]``; "at the time" for 0."""
    words = []
    for value in offsets or []:
        value = int(value)
        words.append(
            "at the time" if value == 0 else f"{duration_words(value)} {'before' if value < 0 else 'after'}"
        )
    return ", ".join(words)
