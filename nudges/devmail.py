"""Development mail: Django's file backend, plus each message's text as a person reads it.

The raw message (quoted-printable, long links folded with '=') stays as Django writes it; under it
comes the plain text, unfolded, so a link in a nudge can be copied from ``var/mail`` and opened.
"""

from django.core.mail.backends.filebased import EmailBackend


class ReadableFileEmailBackend(EmailBackend):
    def write_message(self, message):
        super().write_message(message)
        readable = (
            f"[as read] To: {', '.join(message.to)}\n[as read] Subject: {message.subject}\n\n{message.body}\n"
        )
        self.stream.write(readable.encode("utf-8"))
        self.stream.write(b"=" * 79 + b"\n")
