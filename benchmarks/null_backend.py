"""A null SMS transport for the benchmarks: sends nothing, writes down which nudge it "sent".

Each process appends one line (the nudge reference) to its own file in ``BENCH_SMS_DIR``, unbuffered
(one ``write`` per message, no fsync), so a worker killed later has lost nothing and the benchmark can
count duplicates across processes afterwards without a table of its own.
"""

from __future__ import annotations

import os
from pathlib import Path

from nudges.channels import BaseSmsBackend

_open: dict[tuple[int, str], int] = {}


def _log_fd() -> int:
    folder = os.environ["BENCH_SMS_DIR"]
    key = (os.getpid(), folder)
    fd = _open.get(key)
    if fd is None:
        Path(folder).mkdir(parents=True, exist_ok=True)
        path = Path(folder) / f"sent-{os.getpid()}.log"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        _open[key] = fd
    return fd


class NullSmsBackend(BaseSmsBackend):
    def send(self, *, to: str, body: str, reference: str) -> str:
        os.write(_log_fd(), f"{reference}\n".encode())
        return f"null-{reference}"


def read_sent(folder: str | Path) -> list[str]:
    """Every reference written to ``folder`` by any process, one entry per send."""
    sent: list[str] = []
    for path in sorted(Path(folder).glob("sent-*.log")):
        sent.extend(line for line in path.read_text().splitlines() if line)
    return sent
