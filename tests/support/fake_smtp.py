"""A small SMTP server on 127.0.0.1 that fails the way mail servers do, for the transport's classification tests.

``FakeSmtp(mode)`` listens on a free port in a thread and answers each connection by ``mode``:

- ``"ok"``: a normal conversation; each message received is kept in ``messages``.
- ``"silent"``: accepts the TCP connection and never greets, so the client times out while connecting.
- ``"close_before_data"``: greets and answers EHLO, then hangs up when MAIL FROM arrives.
- ``"hang_after_data"``: takes the whole message after DATA and never answers it.
- ``"reject_after_data"``: takes the whole message and answers ``reply`` (``"554 5.7.1 rejected"`` by default).
"""

from __future__ import annotations

import socket
import threading
from contextlib import suppress


class FakeSmtp:
    def __init__(self, mode: str = "ok", reply: str = "554 5.7.1 rejected"):
        self.mode, self.reply = mode, reply
        self.messages: list[bytes] = []
        self.commands: list[str] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.stopped = threading.Event()
        self._connections: list[socket.socket] = []

    def __enter__(self) -> FakeSmtp:
        threading.Thread(target=self._serve, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopped.set()
        with suppress(OSError):
            self.listener.close()
        for connection in self._connections:
            with suppress(OSError):
                connection.close()

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self._connections.append(connection)
            threading.Thread(target=self._converse, args=(connection,), daemon=True).start()

    def _converse(self, connection: socket.socket) -> None:
        reader = connection.makefile("rb")

        def say(line: str) -> None:
            connection.sendall(line.encode() + b"\r\n")

        with suppress(OSError, ValueError):
            if self.mode == "silent":
                self.stopped.wait(30)
                return
            say("220 fake.smtp.invalid ESMTP")
            while not self.stopped.is_set():
                line = reader.readline()
                if not line:
                    return
                command = line.decode(errors="replace").strip()
                self.commands.append(command.split(" ", 1)[0].upper())
                verb = command[:4].upper()
                if verb in ("EHLO", "HELO"):
                    say("250 fake.smtp.invalid")
                elif verb == "MAIL":
                    if self.mode == "close_before_data":
                        connection.close()
                        return
                    say("250 2.1.0 OK")
                elif verb == "RCPT":
                    say("250 2.1.5 OK")
                elif verb == "DATA":
                    say("354 End data with <CR><LF>.<CR><LF>")
                    body = b""
                    while not body.endswith(b"\r\n.\r\n"):
                        chunk = reader.readline()
                        if not chunk:
                            return
                        body += chunk
                    self.messages.append(body)
                    if self.mode == "hang_after_data":
                        self.stopped.wait(30)
                        return
                    say(self.reply if self.mode == "reject_after_data" else "250 2.0.0 queued")
                elif verb == "QUIT":
                    say("221 2.0.0 bye")
                    return
                else:
                    say("250 OK")
