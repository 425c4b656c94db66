"""A smoke test of the clinic simulation (``python -m benchmarks.clinic``): it runs and prints its table.
The figures themselves are the benchmark's, never asserted here."""

import pytest

from benchmarks import clinic

pytestmark = pytest.mark.django_db


def test_a_tiny_clinic_runs_through_two_weeks_and_prints_its_table():
    args = clinic.parse_args(
        ["--patients", "10", "--weeks", "2", "--seed", "3", "--step-minutes", "120", "--detect-every", "240"]
    )

    figures = clinic.run(args, migrate=False)
    table = clinic.report(args, figures)

    for figure in (
        "lapse → alert, fading",
        "recall",
        "false positives, steady patients",
        "reopens after a correction",
        "duplicate alerts",
        "alert → outreach sent",
        "automated messages per patient per 7 days",
        "quiet-hour sends",
        "queries per detection run",
    ):
        assert figure in table, figure
    assert figures["sent"] > 0, "check-in requests went out"
    assert figures["duplicates"] == 0
    assert sum(figures["quiet_sends"].values()) == 0
