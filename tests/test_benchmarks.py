"""``make bench``: it fails when the outbox sent a nudge twice, and its page and job harness runs end to end on a
tiny seeded clinic. The figures are the benchmark's, never asserted here (no timings in the suite)."""

import json
import sys
from datetime import datetime, time, timedelta

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


def test_the_schedule_gives_each_size_its_rounds_in_alternate_blocks():
    turns = pages.schedule(["S", "M"], rounds=12, block=5)

    assert turns == [[("S", 5), ("M", 5)], [("S", 5), ("M", 5)], [("S", 2), ("M", 2)]]
    flat = [size for turn in turns for size, _ in turn]
    assert flat == ["S", "M"] * 3  # never two blocks of one size in a row
    for rounds, block in ((40, 5), (7, 3), (5, 5), (3, 10), (1, 1)):
        turns = pages.schedule(["S", "M"], rounds=rounds, block=block)
        for size in ("S", "M"):
            counts = [n for turn in turns for label, n in turn if label == size]
            assert sum(counts) == rounds
            assert all(0 < n <= block for n in counts)
        assert all([label for label, _ in turn] == ["S", "M"] for turn in turns)


def test_the_schedule_of_one_size_is_its_blocks():
    assert pages.schedule(["10000"], rounds=11, block=5) == [[("10000", 5)], [("10000", 5)], [("10000", 1)]]


class _FakeSize:
    """A size that answers the commands from made-up figures and writes each one down in ``log``."""

    def __init__(self, label: str, log: list, listed: tuple[str, ...] = ("inbox", "review")) -> None:
        self.label, self.log, self.listed = label, log, listed

    def ask(self, command: dict) -> dict:
        self.log.append((self.label, command["cmd"], command.get("page"), command.get("rounds")))
        if command["cmd"] == "time":
            assert command["rewarm"] == 1  # each block begins with an untimed request
        if command["cmd"] == "pages":
            return {"pages": [{"page": name, "who": "staff", "url": f"/{name}/"} for name in self.listed]}
        if command["cmd"] == "warm":
            return {"status": 200, "queries": 9, "location": ""}
        if command["cmd"] == "time":
            start = 10.0 if self.label == "S" else 20.0
            return {"times_ms": [start + n for n in range(command["rounds"])], "status": 200}
        return {"sql_floor_ms": 3.0, "read_floor_ms": 2.0, "write_ms": 1.0}


def test_each_page_is_timed_at_both_sizes_in_turns_then_floored_before_the_next_page():
    log: list = []
    sizes = {"S": _FakeSize("S", log), "M": _FakeSize("M", log, listed=("inbox", "review", "advocates"))}

    rows = pages.lockstep(sizes, rounds=7, block=3)

    inbox = [entry for entry in log if entry[2] == "inbox"]
    assert inbox == [
        ("S", "warm", "inbox", None), ("M", "warm", "inbox", None),
        ("S", "time", "inbox", 3), ("M", "time", "inbox", 3),
        ("S", "time", "inbox", 3), ("M", "time", "inbox", 3),
        ("S", "time", "inbox", 1), ("M", "time", "inbox", 1),
        ("S", "floor", "inbox", None), ("M", "floor", "inbox", None),
    ]  # fmt: skip
    pages_in_order = [page for _, _, page, _ in log if page]
    assert pages_in_order.index("review") > max(i for i, page in enumerate(pages_in_order) if page == "inbox")
    assert [row["page"] for row in rows["S"]] == ["inbox", "review"]  # advocates exists at M only
    assert [row["page"] for row in rows["M"]] == ["inbox", "review", "advocates"]
    assert [entry for entry in log if entry[2] == "advocates" and entry[0] == "S"] == []
    row = rows["M"][0]
    assert row["rounds"] == 7 and row["times_ms"] == [20.0, 21.0, 22.0, 20.0, 21.0, 22.0, 20.0]
    assert row["p50_ms"] == 21.0 and row["p95_ms"] == 22.0
    assert (row["queries"], row["status"], row["sql_floor_ms"], row["write_ms"]) == (9, 200, 3.0, 1.0)


# A worker as ``--serve`` runs one, without a database: it prints to stdout as Django's commands and a seed in a
# child process do, answers ``time`` from made-up figures, and ends on ``die``.
FAKE_WORKER = """
import os, subprocess, sys, time
from benchmarks import pages

replies = pages.take_stdout()
print("a log line on stdout")
subprocess.run([sys.executable, "-c", "print('a child process on stdout')"], check=True)

def handle(command):
    if command["cmd"] == "time":
        print("timing", command["page"])
        return {"times_ms": [1.5] * command["rounds"], "status": 200}
    if command["cmd"] == "die":
        os._exit(3)
    if command["cmd"] == "sleep":
        time.sleep(30)
    raise ValueError("no such command")

pages.serve(handle, sys.stdin, replies, ready={"counts": {"patients": 1}})
"""


@pytest.fixture
def fake_worker():
    worker = pages.Worker.start("S", [sys.executable, "-c", FAKE_WORKER], timeout=60)
    yield worker
    worker.kill()


def test_a_worker_answers_each_command_on_one_line_whatever_else_it_prints(fake_worker):
    assert fake_worker.ready == {"counts": {"patients": 1}}
    assert fake_worker.ask({"cmd": "time", "page": "inbox", "rounds": 3}) == {
        "times_ms": [1.5, 1.5, 1.5],
        "status": 200,
    }
    assert fake_worker.ask({"cmd": "time", "page": "review", "rounds": 1})["times_ms"] == [1.5]
    fake_worker.close()
    assert fake_worker.process.returncode == 0


def test_a_worker_that_fails_or_dies_or_hangs_fails_the_run_instead_of_waiting(fake_worker):
    with pytest.raises(pages.WorkerFailed, match="failed on bogus: ValueError: no such command"):
        fake_worker.ask({"cmd": "bogus"})
    with pytest.raises(pages.WorkerFailed, match="gave no answer to sleep"):
        fake_worker.ask({"cmd": "sleep"}, timeout=0.5)
    fake_worker.kill()
    with pytest.raises(pages.WorkerFailed, match=r"ended \(exit status -9\) before answering time 'inbox'"):
        fake_worker.ask({"cmd": "time", "page": "inbox", "rounds": 1})


def test_a_worker_that_dies_mid_command_ends_the_wait_at_once():
    worker = pages.Worker.start("M", [sys.executable, "-c", FAKE_WORKER], timeout=60)
    with pytest.raises(pages.WorkerFailed, match=r"the M worker ended \(exit status 3\)") as failed:
        worker.ask({"cmd": "die"}, timeout=600)
    assert failed.value.status == 1
    worker.kill()


def test_the_practitioners_pages_are_measured_as_the_practitioner_with_the_median_week(db):
    """Not the first by id: on the seeded clinics that one was the busiest, so its week compared workloads."""
    from django.utils import timezone

    from journeys.models import Visit
    from tests.factories import PatientFactory, UserFactory

    today = timezone.localdate()
    monday = today - timedelta(days=today.weekday())
    noon = datetime.combine(monday, time(12), tzinfo=timezone.get_current_timezone())
    busiest, quiet, typical = (UserFactory(role="practitioner") for _ in range(3))
    UserFactory(role="staff")
    for practitioner, visits in ((busiest, 5), (quiet, 1), (typical, 3)):
        patient = PatientFactory()
        for hour in range(visits):
            Visit.objects.create(patient=patient, practitioner=practitioner, kind=Visit.Kind.FOLLOW_UP,
                                 starts_at=noon + timedelta(days=hour % 5, hours=hour))  # fmt: skip
    # Last week's visits do not count.
    patient = PatientFactory()
    for hour in range(5):
        Visit.objects.create(patient=patient, practitioner=quiet, kind=Visit.Kind.FOLLOW_UP,
                             starts_at=noon - timedelta(days=7, hours=hour))  # fmt: skip

    assert pages.typical_practitioner() == typical
    assert pages.users()["practitioner"] == typical
