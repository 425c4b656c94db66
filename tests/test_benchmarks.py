"""``make bench`` fails when the outbox sent a nudge twice; the benchmark itself never runs in the suite."""

from benchmarks import dispatch


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
