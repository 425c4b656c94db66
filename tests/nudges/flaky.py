"""SMS backends that fail the way providers do, for the outbox tests."""

from nudges.channels import AmbiguousSendError, BaseSmsBackend, TransientSendError


class AlwaysDownSmsBackend(BaseSmsBackend):
    def send(self, *, to, body, reference):
        raise TransientSendError("provider unavailable (503)")


class TimesOutSmsBackend(BaseSmsBackend):
    def send(self, *, to, body, reference):
        raise AmbiguousSendError("no answer within 10 s after the request was sent")
