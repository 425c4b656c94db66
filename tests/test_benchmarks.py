"""``make bench``: it fails when the outbox sent a nudge twice, and its page and job harness runs end to end on a
tiny seeded clinic. The figures are the benchmark's, never asserted here (no timings in the suite)."""

import json

import pytest
from django.core.management import call_command

from benchmarks import dispatch, pages


def test_the_bench_fails_when_the_transport_wrote_one_nudge_down_twice(tmp_path):
    (tmp_path / "sent-101.log").write_text("nudge-1\nnudge-2\n")
    (tmp_path / "sent-102.log").write_text("nudge-3\nnudge-2\n")  # another worker process sent nudge-2 again

    written, extra = dispatch.duplicates(tmp_path)
    assert (written, extra) == (4, 1)
    assert dispatch.exit_status({"duplicates": 0}, {"duplicates": extra}) == 1


def test_the_bench_passes_when_every_nudge_went_once(tmp_path):
    (tmp_path / "sent-101.log").write_text("nudge-1\nnudge-2\n")
    (tmp_path / "sent-102.log").write_text("nudge-3\n")

    assert dispatch.duplicates(tmp_path) == (3, 0)
    assert dispatch.exit_status({"duplicates": 0}, {"duplicates": 0}) == 0


@pytest.mark.django_db
def test_the_harness_measures_every_page_and_job_on_a_tiny_seeded_clinic(tmp_path, settings):
    settings.DEBUG = False
    call_command("seed_scale", patients=40, weeks=8, seed=5, verbosity=0)

    report = pages.measure(rounds=1, only=set(), jobs_in_subprocess=False)
    result = pages.combine({"S": report}, minutes=0.0)
    path = pages.write_result(result, tmp_path)

    measured = {row["page"]: row for row in report["pages"]}
    not_ok = {
        name: (row["status"], row.get("location")) for name, row in measured.items() if row["status"] != 200
    }
    assert not not_ok, "every page answers 200 to a user signed in with both factors"
    for page in ("today (staff)", "today (practitioner)", "patients p1", "patients last", "patient heavy",
                 "pipeline", "outbox p1", "review", "alerts", "insights", "schedule week (clinic)",
                 "admin patients"):  # fmt: skip
        assert page in measured, page
        assert measured[page]["queries"] > 0
    assert {"falter", "sweep", "dispatch", "export"} <= set(report["jobs"])
    export = report["jobs"]["export"]["steps"][0]
    assert export["rows"] == report["counts"]["patients"] - _archived()
    written = json.loads(path.read_text())
    assert written["sizes"]["S"]["pages"] == report["pages"]
    assert (tmp_path / "latest.json").exists()
    assert "patients p1 / admin changelist" in pages.render(written)


def _archived() -> int:
    from patients.models import Patient

    return Patient.objects.filter(archived=True).count()


def _size(p95: dict[str, float], queries: int = 10, floor: float = 50.0) -> dict:
    rows = [
        {"page": name, "status": 200, "queries": queries, "p50_ms": ms, "p95_ms": ms, "sql_floor_ms": floor}
        for name, ms in p95.items()
    ]
    return {"counts": {"patients": 1}, "pages": rows, "jobs": {}}


def test_the_targets_are_marked_met_or_missed_from_the_two_sizes():
    small = _size({"patients p1": 100.0, "patients last": 110.0, "admin patients": 400.0, "pipeline": 100.0})
    large = _size({"patients p1": 120.0, "patients last": 250.0, "admin patients": 900.0, "pipeline": 400.0})
    large["pages"][3]["queries"] = 11  # the pipeline's count grew with the data

    checks = {c["target"]: c["met"] for c in pages.targets({"S": small, "M": large})}

    assert checks["patients p1: queries M = S"] is True
    assert checks["pipeline: queries M = S"] is False
    assert checks["patients p1: p95 M / S"] is True  # 1.2×
    assert checks["pipeline: p95 M / S"] is False  # 4×
    assert checks["pipeline: p95 at M"] is False  # 400 ms
    assert checks["pipeline: p95 / SQL floor (M)"] is False  # 8×
    assert checks["patients last / patients p1 (M)"] is False  # 2.1×
    assert checks["patients p1 / admin changelist (M)"] is True  # 0.13×


def test_the_turns_of_a_size_are_put_together_page_by_page():
    """S and M take turns (``--passes``): each page's times from every turn make its p50 and p95, its floor
    is the median of the turns' floors, the seed is the first turn's and the jobs the last turn's."""

    def turn(times, floor, status=200, jobs=None, seed=None):
        row = {"page": "inbox", "status": status, "queries": 9, "p50_ms": 0.0, "p95_ms": 0.0,
               "sql_floor_ms": floor, "read_floor_ms": floor - 1, "write_ms": 1.0, "times_ms": times}  # fmt: skip
        return {"counts": {"patients": 1}, "pages": [row], "jobs": jobs or {}, "seed": seed}

    first = turn([float(n) for n in range(1, 21)], 2.0, seed={"seconds": 9.0})
    second = turn(
        [float(n) for n in range(21, 41)], 4.0, jobs={"falter": {"steps": []}}, seed={"reused": True}
    )
    report = pages.merged([first, second])
    (row,) = report["pages"]
    assert row["rounds"] == 40 and row["turns"] == 2
    assert row["p50_ms"] == 20.5 and row["p95_ms"] == 38.0  # over the 40 times, not one turn's
    assert row["sql_floor_ms"] == 3.0 and row["read_floor_ms"] == 2.0
    assert report["seed"] == {"seconds": 9.0} and report["jobs"] == {"falter": {"steps": []}}
    failed = pages.merged([first, turn([1.0], 2.0, status=302)])
    assert failed["pages"][0]["status"] == 302  # a turn that did not answer 200 fails the page
    assert pages.merged([first]) is first
