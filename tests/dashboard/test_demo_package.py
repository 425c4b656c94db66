"""The demo package's parts: its data files and its clock (the demo itself: test_seed_demo.py)."""

import shutil
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from dashboard.demo.clock import Clock
from dashboard.demo.data import DATA_DIR, DemoDataError, demo_data, read

MONDAY_9 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_the_data_files_hold_about_forty_patients_each_with_a_journey():
    data = demo_data()
    assert 35 <= len(data.patients) <= 45
    assert all(person.journey.stage for person in data.patients)


@pytest.fixture
def data_dir(tmp_path):
    folder = tmp_path / "data"
    shutil.copytree(DATA_DIR, folder)
    return folder


def test_a_key_the_data_does_not_know_fails_naming_the_file_and_the_entry(data_dir):
    path = data_dir / "patients.toml"
    path.write_text(path.read_text(encoding="utf-8").replace("days = 60", "days = 60\nfaltring = true", 1))
    with pytest.raises(DemoDataError, match=r"patients\.toml, patient 1.*unknown faltring"):
        read(data_dir)


def test_a_choice_the_app_does_not_know_fails_loudly(data_dir):
    path = data_dir / "patients.toml"
    path.write_text(path.read_text(encoding="utf-8").replace('stage = "advocate"', 'stage = "healed"', 1))
    with pytest.raises(DemoDataError, match="no stage “healed”"):
        read(data_dir)


def test_side_effects_as_an_ordinary_barrier_fail_loudly(data_dir):
    """A side effect alerts the lead at answer time: an ordinary week naming one would alert at random."""
    path = data_dir / "answers.toml"
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace('steady_barriers = ["forgot"', 'steady_barriers = ["side_effects", "forgot"', 1)
    )
    with pytest.raises(DemoDataError, match="side effects are no ordinary barrier"):
        read(data_dir)


def test_words_for_an_ordinary_week_may_not_tell_of_a_side_effect(data_dir):
    path = data_dir / "answers.toml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("Best week so far.", "Best week so far, no rash at all. Then a rash.", 1))
    with pytest.raises(DemoDataError, match="tells of a side effect"):
        read(data_dir)


def test_the_clock_runs_each_action_at_its_moment_in_time_order(db):
    seen = []
    with Clock(start=MONDAY_9, end=MONDAY_9 + timedelta(days=7)) as clock:
        for days in (3, 1, 2):
            clock.at(MONDAY_9 + timedelta(days=days), lambda: seen.append(timezone.now()))
        clock.run()
    assert seen == [MONDAY_9 + timedelta(days=days) for days in (1, 2, 3)]


def test_the_clock_refuses_a_moment_that_has_passed(db):
    with Clock(start=MONDAY_9, end=MONDAY_9 + timedelta(days=7)) as clock:
        clock.at(MONDAY_9 + timedelta(days=2), lambda: clock.at(MONDAY_9 + timedelta(days=1), print))
        with pytest.raises(ValueError, match="has passed"):
            clock.run()
