"""An email backend that records every message durably, one line each, for tests that kill processes.

Each message appends ``<X-Alliance-Nudge> <Message-ID>`` to the file named by the ``path`` option or
the ``RECORDING_EMAIL_FILE`` environment variable, with one ``write`` on an ``O_APPEND`` descriptor
and an ``fsync``, so lines from several processes and threads never interleave and survive SIGKILL.

With ``RECORDING_EMAIL_DELAY`` (seconds, or the ``delay`` option) the backend first appends
``started <nudge id>`` to ``<file>.started`` and sleeps before recording: a test can kill the process
in the middle of a send. With ``RECORDING_EMAIL_HOLD`` (or ``hold``) it sleeps *after* recording, as a
provider does that has taken the message and not yet answered: the message has left, the sender waits.
The ``on_send`` option, a callable taking the nudge id, runs after each message is recorded.
"""

from __future__ import annotations

import os
import time

from django.core.mail.backends.base import BaseEmailBackend


def append_line(path: str, line: str) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(descriptor, (line + "\n").encode())
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def read_lines(path) -> list[str]:
    try:
        with open(path, encoding="utf-8") as recorded:
            return recorded.read().splitlines()
    except FileNotFoundError:
        return []


def _seconds(option: float | None, variable: str) -> float:
    return float(option if option is not None else os.environ.get(variable) or 0)


class RecordingEmailBackend(BaseEmailBackend):
    def __init__(
        self,
        *args,
        path: str | None = None,
        delay: float | None = None,
        hold: float | None = None,
        on_send=None,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.path = path or os.environ["RECORDING_EMAIL_FILE"]
        self.delay = _seconds(delay, "RECORDING_EMAIL_DELAY")
        self.hold = _seconds(hold, "RECORDING_EMAIL_HOLD")
        self.on_send = on_send

    def send_messages(self, email_messages) -> int:
        sent = 0
        for message in email_messages:
            nudge_id = message.extra_headers.get("X-Alliance-Nudge", "-")
            if self.delay:
                append_line(self.path + ".started", f"started {nudge_id}")
                time.sleep(self.delay)
            append_line(self.path, f"{nudge_id} {message.extra_headers.get('Message-ID', '-')}")
            sent += 1
            if self.on_send is not None:
                self.on_send(int(nudge_id))
            if self.hold:
                time.sleep(self.hold)
        return sent
