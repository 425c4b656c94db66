"""A rule's timing in words and back."""

import pytest

from nudges.offsets import TimingError, offsets_to_words, words_to_offsets


@pytest.mark.parametrize(
    ("words", "minutes"),
    [
        ("1 day before, 2 hours before", [-1440, -120]),
        ("24 hours before; 2h before", [-1440, -120]),
        ("a day before\nan hour before", [-1440, -60]),
        ("1 day and 2 hours before", [-1560]),
        ("1h30m before", [-90]),
        ("1 week after", [10080]),
        ("90 minutes later", [90]),
        ("At the time", [0]),
        ("1 day before, 24 hours before", [-1440]),
        ("", []),
        ("  ,  ", []),
    ],
)
def test_words_become_minutes(words, minutes):
    assert words_to_offsets(words) == minutes


@pytest.mark.parametrize(
    "words", ["[-1440, -120]", "-1440", "tomorrow", "1 fortnight before", "day before", "2 days"]
)
def test_words_that_say_no_time_are_refused(words):
    with pytest.raises(TimingError):
        words_to_offsets(words)


@pytest.mark.parametrize(
    ("minutes", "words"),
    [
        ([-1440, -120], "1 day before, 2 hours before"),
        ([1440], "1 day after"),
        ([0], "at the time"),
        ([-90], "1 hour 30 minutes before"),
        ([-10080, -12960], "1 week before, 9 days before"),
        ([], ""),
    ],
)
def test_minutes_read_as_words_and_back(minutes, words):
    assert offsets_to_words(minutes) == words
    assert words_to_offsets(words) == minutes
