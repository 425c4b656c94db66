"""The outbox: every way a nudge is scheduled, withdrawn, claimed, sent, held back or reviewed.

The guarantees: a ``dedupe_key`` makes at most one nudge; a nudge is claimed (pending → sending) by a
conditional UPDATE before any transport runs, so two dispatchers, a retried task or a second beat
never send it twice; consent, unsubscribe, archive and quiet hours are checked at send time; a nudge
whose worker died mid-send becomes ``unknown`` and waits for a person.
"""

from __future__ import annotations

import logging
import time as monotonic_time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from accounts.audit import record_access
from accounts.models import AccessEvent
from patients.models import Channel, Patient
from patients.selectors import patient_may_message
from patients.services import consent_record, patient_unsubscribe

from . import channels, keywords, rendering, tokens
from .budget import budget_hold_reason
from .models import Heartbeat, InboundMessage, Kind, Nudge, NudgeRule
from .timing import next_allowed_moment

logger = logging.getLogger(__name__)

BACKOFF_MINUTES = (1, 5, 15, 60, 180)


def _enqueue_delivery(nudge_id: int) -> None:
    from .tasks import deliver  # tasks import services: import here to keep the module graph acyclic

    try:
        # One try, no waiting: with the broker down a request must not stall; dispatch is the safety net.
        # (retry=False would still wait for kombu's connection retries, about 6 s a message.)
        deliver.apply_async(args=[nudge_id], retry=True, retry_policy={"max_retries": 0})
    except Exception:  # the broker is down: the nudge waits in the database for the next dispatch
        logger.warning("could not queue nudge %s; the dispatcher will send it", nudge_id, exc_info=True)


def _channel_for(patient: Patient, requested: str | None) -> str:
    if requested:
        return requested
    preferred = patient.preferred_channel
    other = Channel.SMS if preferred == Channel.EMAIL else Channel.EMAIL
    if not patient_may_message(patient, preferred)[0] and patient_may_message(patient, other)[0]:
        return other
    return preferred


def nudge_schedule(
    *,
    patient: Patient,
    kind: str,
    send_at: datetime,
    dedupe_key: str,
    context: dict | None = None,
    channel: str | None = None,
    expires_at: datetime | None = None,
    actor=None,
) -> Nudge:
    """Schedule one nudge; scheduling again with the same ``dedupe_key`` returns the first one unchanged.

    ``channel`` defaults to the patient's preferred channel, or the other one when only it has consent.
    ``context`` holds the plain values the wording needs (no model instances, no secrets).
    ``expires_at``: past this moment (quiet hours included) the nudge is held back, not sent late.
    """
    if kind not in Kind.values:
        raise ValidationError(f"Unknown kind of nudge “{kind}”.")
    if timezone.is_naive(send_at):
        raise ValidationError("send_at must carry a time zone.")
    context = context or {}
    if rendering.plain(context) != context:
        raise ValidationError("A nudge's context may hold only plain text and numbers.")
    existing = Nudge.objects.filter(dedupe_key=dedupe_key).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            nudge = Nudge.objects.create(
                patient=patient,
                kind=kind,
                channel=_channel_for(patient, channel),
                send_at=send_at,
                expires_at=expires_at,
                dedupe_key=dedupe_key,
                context=context,
                created_by=actor if actor is not None and actor.is_authenticated else None,
            )
    except IntegrityError:
        return Nudge.objects.get(dedupe_key=dedupe_key)  # another process scheduled it a moment ago
    if send_at <= timezone.now():
        transaction.on_commit(lambda: _enqueue_delivery(nudge.pk))
    return nudge


def nudge_send_one_off(
    *, patient: Patient, actor, channel: str, message: str, subject: str = "", send_at: datetime | None = None
) -> Nudge:
    """A message a staff member wrote for one patient, now or at a chosen time."""
    message = message.strip()
    if not message:
        raise ValidationError("Write the message before sending it.")
    with transaction.atomic():
        nudge = nudge_schedule(
            patient=patient,
            kind=Kind.ONE_OFF,
            channel=channel,
            send_at=send_at or timezone.now(),
            dedupe_key=f"one-off:{uuid.uuid4()}",
            context={"message": message, "subject": subject.strip(), "sender_name": str(actor)},
            actor=actor,
        )
        record_access(
            action=AccessEvent.Action.CREATE,
            actor=actor,
            patient_id=patient.pk,
            obj=nudge,
            detail=f"one-off {channel} message scheduled for {nudge.send_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC",
        )
    return nudge


def nudge_cancel(*, dedupe_keys: list[str] | None = None, key_prefix: str = "", reason: str) -> int:
    """Withdraw pending nudges whose reason is gone (a cancelled visit); return how many."""
    if not dedupe_keys and not key_prefix:
        raise ValueError("nudge_cancel needs dedupe_keys or key_prefix")
    pending = Nudge.objects.filter(status=Nudge.Status.PENDING)
    pending = (
        pending.filter(dedupe_key__in=dedupe_keys)
        if dedupe_keys
        else pending.filter(dedupe_key__startswith=key_prefix)
    )
    return pending.update(status=Nudge.Status.CANCELLED, status_reason=reason[:255])


# --- Claiming -------------------------------------------------------------------------------------


def nudge_claim_due(*, now: datetime | None = None, limit: int | None = None) -> list[int]:
    """Claim up to ``limit`` due nudges for this process (pending → sending) and return their ids.

    On PostgreSQL the candidates are locked with SKIP LOCKED, so concurrent dispatchers take disjoint
    batches. Everywhere, the UPDATE re-checks ``status = pending``, so a row is claimed once.
    """
    now = now or timezone.now()
    limit = limit or settings.NUDGE_BATCH_SIZE
    with transaction.atomic():
        candidates = Nudge.objects.due(now).order_by("send_at", "id")
        if connection.features.has_select_for_update_skip_locked:
            candidates = candidates.select_for_update(skip_locked=True)
        ids = list(candidates.values_list("pk", flat=True)[:limit])
        if not ids:
            return []
        Nudge.objects.filter(pk__in=ids, status=Nudge.Status.PENDING).update(
            status=Nudge.Status.SENDING, claimed_at=now, attempts=F("attempts") + 1
        )
        # Under SKIP LOCKED (or SQLite's single writer) every id above is now ours; re-read to be sure.
        return list(
            Nudge.objects.filter(pk__in=ids, status=Nudge.Status.SENDING, claimed_at=now).values_list(
                "pk", flat=True
            )
        )


def _claim_one(nudge_id: int) -> bool:
    now = timezone.now()
    return (
        Nudge.objects.filter(pk=nudge_id, status=Nudge.Status.PENDING, send_at__lte=now).update(
            status=Nudge.Status.SENDING, claimed_at=now, attempts=F("attempts") + 1
        )
        == 1
    )


# --- Sending --------------------------------------------------------------------------------------


@dataclass
class DispatchReport:
    sent: int = 0
    failed: int = 0
    retrying: int = 0
    suppressed: int = 0
    deferred: int = 0
    unknown: int = 0
    skipped: int = 0  # taken from this batch (lease ran out) before their turn came: not sent by us
    reasons: dict[str, int] = field(default_factory=dict)

    def count(self, outcome: str, reason: str = "") -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)
        if reason:
            self.reasons[reason] = self.reasons.get(reason, 0) + 1

    def __str__(self) -> str:
        return (
            f"{self.sent} sent, {self.retrying} to retry, {self.failed} failed, {self.suppressed} held back, "
            f"{self.deferred} deferred for quiet hours, {self.unknown} unknown"
            + (f", {self.skipped} no longer ours (lease ran out)" if self.skipped else "")
        )


def unsubscribe_url(*, patient_id: int, nudge_id: int | None = None) -> str:
    token = tokens.unsubscribe_token(patient_id=patient_id, nudge_id=nudge_id)
    return settings.ALLIANCE_SITE_URL + reverse("unsubscribe", args=[token])


def _context_for(nudge: Nudge, patient: Patient) -> dict:
    base = {
        "first_name": patient.preferred_name or patient.first_name,
        "clinic_name": settings.CLINIC_NAME,
        "practitioner_name": getattr(patient, "lead_name", None) or "",
        "unsubscribe_url": unsubscribe_url(patient_id=patient.pk, nudge_id=nudge.pk),
    }
    return base | rendering.plain(nudge.context)


def _mark(nudge: Nudge, **fields) -> bool:
    """Move a claimed nudge on — only while it is still ours: ``sending`` under this very claim.

    If the lease ran out and the reconciler (or a person) took the row, nothing changes.
    """
    return (
        Nudge.objects.filter(pk=nudge.pk, status=Nudge.Status.SENDING, claimed_at=nudge.claimed_at).update(
            **fields
        )
        == 1
    )


def _take_for_sending(nudge: Nudge, message: rendering.Rendered) -> bool:
    """Just before the transport: renew the claim and record what may go out, in one conditional UPDATE.

    A batch can outlive its lease (a slow mail server); a nudge the reconciler has since marked
    ``unknown``, or that a person chose to send again, is no longer ours and must not be sent.
    """
    renewed = timezone.now()
    taken = _mark(
        nudge, claimed_at=renewed, subject=message.subject, body_text=message.text, body_html=message.html
    )
    if taken:
        nudge.claimed_at = renewed
    return taken


def _hold(nudge: Nudge, patient: Patient, now: datetime, report: DispatchReport, switched_off: set) -> bool:
    """Hold back (suppress) or defer a claimed nudge if it may not go now; True if it was held."""
    if nudge.kind in switched_off:
        reason = "this kind of message is switched off in the clinic's settings"
        _mark(nudge, status=Nudge.Status.SUPPRESSED, status_reason=reason)
        report.count("suppressed", reason)
        return True
    allowed, reason = patient_may_message(patient, nudge.channel)
    if not allowed:
        _mark(nudge, status=Nudge.Status.SUPPRESSED, status_reason=reason)
        report.count("suppressed", reason)
        return True
    later = next_allowed_moment(
        now, tz=patient.tz, start=patient.quiet_hours_start, end=patient.quiet_hours_end
    )
    if nudge.expires_at is not None and later >= nudge.expires_at:
        reason = (
            "too late to be useful" if later == now else "quiet hours last until after it stops mattering"
        )
        _mark(nudge, status=Nudge.Status.SUPPRESSED, status_reason=reason)
        report.count("suppressed", reason)
        return True
    if later > now:
        local = later.astimezone(patient.tz)
        _mark(
            nudge,
            status=Nudge.Status.PENDING,
            send_at=later,
            attempts=F("attempts") - 1,
            claimed_at=None,
            status_reason=f"deferred for quiet hours to {local:%Y-%m-%d %H:%M} {patient.time_zone}",
        )
        report.count("deferred")
        return True
    if reason := budget_hold_reason(nudge, now):  # the weekly message budget (nudges.budget)
        _mark(nudge, status=Nudge.Status.SUPPRESSED, status_reason=reason)
        report.count("suppressed", reason)
        return True
    return False


@dataclass
class _Ready:
    nudge: Nudge
    patient: Patient
    message: rendering.Rendered
    unsubscribe_url: str


def _prepare(nudge: Nudge, patient: Patient, templates: dict, report: DispatchReport, switched_off: set):
    """Hold the nudge back, or render what would go out; None when it is not to be sent now."""
    if _hold(nudge, patient, timezone.now(), report, switched_off):
        return None
    try:
        context = _context_for(nudge, patient)
        message = rendering.render_message(
            kind=nudge.kind, channel=nudge.channel, context=context, templates=templates
        )
    except (rendering.WordingError, OSError) as error:
        _mark(nudge, status=Nudge.Status.FAILED, last_error=f"wording: {error}"[:2000])
        report.count("failed", "wording")
        return None
    return _Ready(nudge=nudge, patient=patient, message=message, unsubscribe_url=context["unsubscribe_url"])


def _transmit(ready: _Ready, report: DispatchReport) -> None:
    nudge, patient, message = ready.nudge, ready.patient, ready.message
    if not _take_for_sending(nudge, message):
        report.count("skipped")
        return
    try:
        if nudge.channel == Channel.EMAIL:
            provider_id = channels.send_email(
                nudge=nudge,
                to=patient.email,
                subject=message.subject,
                text=message.text,
                html=message.html,
                unsubscribe_url=ready.unsubscribe_url,
            )
        else:
            provider_id = channels.send_sms(nudge=nudge, to=patient.phone, text=message.text)
    except channels.PermanentSendError as error:
        _mark(nudge, status=Nudge.Status.FAILED, last_error=str(error)[:2000])
        report.count("failed", "refused")
    except channels.AmbiguousSendError as error:
        _mark(nudge, status=Nudge.Status.UNKNOWN, last_error=str(error)[:2000])
        report.count("unknown")
    except channels.TransientSendError as error:
        _fail_or_retry(nudge, str(error), report)
    except Exception as error:  # any other error: nothing left us, so retry with backoff
        logger.warning("nudge %s: send failed", nudge.pk, exc_info=True)
        _fail_or_retry(nudge, f"{type(error).__name__}: {error}", report)
    else:
        # One UPDATE per nudge, right after its transport returns: the window in which a crash leaves a
        # sent message marked 'sending' (later 'unknown', never resent) stays one message wide.
        _mark(
            nudge,
            status=Nudge.Status.SENT,
            sent_at=timezone.now(),
            provider_id=provider_id[:120],
            last_error="",
        )
        report.count("sent")


def _fail_or_retry(nudge: Nudge, error: str, report: DispatchReport) -> None:
    attempts = Nudge.objects.filter(pk=nudge.pk).values_list("attempts", flat=True).first() or 1
    if attempts >= settings.NUDGE_MAX_ATTEMPTS:
        _mark(nudge, status=Nudge.Status.FAILED, last_error=error[:2000])
        report.count("failed", "gave up")
        return
    delay = BACKOFF_MINUTES[min(attempts, len(BACKOFF_MINUTES)) - 1]
    _mark(
        nudge,
        status=Nudge.Status.PENDING,
        claimed_at=None,
        send_at=timezone.now() + timedelta(minutes=delay),
        last_error=error[:2000],
        status_reason=f"retrying in {delay} min (attempt {attempts} of {settings.NUDGE_MAX_ATTEMPTS})",
    )
    report.count("retrying")


def _send_many(ids: list[int], report: DispatchReport) -> None:
    nudges = Nudge.objects.filter(pk__in=ids, status=Nudge.Status.SENDING).order_by("send_at", "id")
    patients = {
        p.pk: p for p in Patient.objects.with_consent().with_lead().filter(pk__in=nudges.values("patient_id"))
    }
    templates = rendering.active_templates()
    # A one-off message is a person's decision, never switched off by a rule.
    switched_off = set(
        NudgeRule.objects.filter(enabled=False).exclude(kind=Kind.ONE_OFF).values_list("kind", flat=True)
    )
    for nudge in nudges:
        ready = _prepare(nudge, patients[nudge.patient_id], templates, report, switched_off)
        if ready is not None:
            _transmit(ready, report)


def nudge_deliver(*, nudge_id: int) -> bool:
    """Send one due nudge at most once (a Celery task may run this twice: the second does nothing)."""
    if not _claim_one(nudge_id):
        return False
    report = DispatchReport()
    _send_many([nudge_id], report)
    return report.sent == 1


def nudge_dispatch_due(*, batch_size: int | None = None, time_budget: float = 50.0) -> DispatchReport:
    """Claim and send due nudges batch after batch until none is due or the time budget is spent."""
    report = DispatchReport()
    started = monotonic_time.monotonic()
    while monotonic_time.monotonic() - started < time_budget:
        ids = nudge_claim_due(limit=batch_size)
        if not ids:
            break
        _send_many(ids, report)
    return report


def nudge_reconcile_stuck(*, now: datetime | None = None) -> int:
    """Nudges still ``sending`` past the lease: their worker died mid-send. Mark them ``unknown``."""
    now = now or timezone.now()
    lease = timedelta(seconds=settings.NUDGE_SENDING_LEASE_SECONDS)
    return Nudge.objects.stuck(older_than=now - lease).update(
        status=Nudge.Status.UNKNOWN,
        last_error="The sender stopped in the middle of sending: it may or may not have reached the patient.",
    )


# --- Review ---------------------------------------------------------------------------------------


@transaction.atomic
def nudge_retry(*, nudge: Nudge, actor) -> None:
    """A person decided a failed or unknown nudge should go again."""
    updated = Nudge.objects.filter(
        pk=nudge.pk, status__in=[Nudge.Status.FAILED, Nudge.Status.UNKNOWN]
    ).update(
        status=Nudge.Status.PENDING,
        send_at=timezone.now(),
        claimed_at=None,
        attempts=0,
        reviewed_at=timezone.now(),
        reviewed_by=actor,
        status_reason=f"sent again by {actor}",
    )
    if not updated:
        raise ValidationError("Only a failed or unknown message can be sent again.")
    record_access(
        action=AccessEvent.Action.UPDATE,
        actor=actor,
        patient_id=nudge.patient_id,
        obj=nudge,
        detail="sent again",
    )
    transaction.on_commit(lambda: _enqueue_delivery(nudge.pk))


@transaction.atomic
def nudge_mark_reviewed(*, nudge: Nudge, actor) -> None:
    """A person looked at a failed or unknown nudge and decided to leave it as it is."""
    updated = Nudge.objects.filter(
        pk=nudge.pk, status__in=[Nudge.Status.FAILED, Nudge.Status.UNKNOWN], reviewed_at__isnull=True
    ).update(reviewed_at=timezone.now(), reviewed_by=actor)
    if not updated:
        raise ValidationError("This message needs no review.")
    record_access(
        action=AccessEvent.Action.UPDATE,
        actor=actor,
        patient_id=nudge.patient_id,
        obj=nudge,
        detail="reviewed",
    )


# --- Opting out, and what patients write back ------------------------------------------------------


def nudge_unsubscribe(*, patient: Patient, via: str = "unsubscribe link") -> bool:
    """The patient opted out of all messages; pending ones will be held back at send time."""
    return patient_unsubscribe(patient=patient, via=via)


@dataclass(frozen=True)
class InboundOutcome:
    """What a patient's text did, and the one text to answer it with ("" for none)."""

    action: str  # an InboundMessage.Action, or "duplicate" for a message already received
    reply: str
    messages: list[InboundMessage] = field(default_factory=list)


_ACTIONS = {
    keywords.Meaning.OPT_OUT: InboundMessage.Action.OPTED_OUT,
    keywords.Meaning.RESTART: InboundMessage.Action.RESTARTED,
    keywords.Meaning.HELP: InboundMessage.Action.HELP,
    keywords.Meaning.WORDS: InboundMessage.Action.KEPT,
}
_REPLY_TEMPLATES = {
    InboundMessage.Action.OPTED_OUT: "nudges/sms_reply_opt_out.txt",
    InboundMessage.Action.RESTARTED: "nudges/sms_reply_restart.txt",
    InboundMessage.Action.HELP: "nudges/sms_reply_help.txt",
}


def _auto_reply(action: str) -> str:
    template = (
        _REPLY_TEMPLATES.get(InboundMessage.Action(action))
        if action in InboundMessage.Action.values
        else None
    )
    if template is None:
        return ""
    context = {"clinic_name": settings.CLINIC_NAME, "clinic_phone": settings.CLINIC_PHONE}
    return " ".join(render_to_string(template, context).split())


def _last_sms_sent(patient: Patient) -> Nudge | None:
    return (
        Nudge.objects.filter(patient=patient, channel=Channel.SMS, status=Nudge.Status.SENT)
        .order_by("-sent_at", "-id")
        .only("pk")
        .first()
    )


@transaction.atomic
def sms_inbound(*, from_number: str, body: str, provider_id: str = "") -> InboundOutcome:
    """Keep a patient's text for their care team and act on the keywords in it (see ``nudges.keywords``).

    An opt-out withdraws SMS consent and is answered with one confirmation: the single text the rules allow
    after an opt-out, sent as the reply to this very message, never through the outbox. HELP is answered
    with the clinic's name and phone; START or UNSTOP grants SMS consent again. The same provider message
    received twice (a retried webhook) changes nothing and is not answered again.
    """
    if not from_number:
        return InboundOutcome(action="ignored", reply="")
    if provider_id and InboundMessage.objects.filter(provider_id=provider_id).exists():
        return InboundOutcome(action="duplicate", reply="")
    action = _ACTIONS[keywords.meaning_of(body)]
    patients: list[Patient | None] = list(Patient.objects.filter(phone=from_number).order_by("pk"))
    received = timezone.now()
    messages = []
    for patient in patients or [None]:  # a number nobody has is kept too, for a person to look at
        message = InboundMessage.objects.create(
            patient=patient,
            channel=Channel.SMS,
            from_address=from_number,
            body=body,
            received_at=received,
            provider_id=provider_id,
            in_reply_to=_last_sms_sent(patient) if patient else None,
            action=action,
        )
        messages.append(message)
        if patient is None:
            continue
        record_access(
            action=AccessEvent.Action.CREATE,
            actor_label="the patient, by text message",
            patient_id=patient.pk,
            obj=message,
            detail=f"SMS reply received: {message.get_action_display().lower()}",
        )
        if action in (InboundMessage.Action.OPTED_OUT, InboundMessage.Action.RESTARTED):
            granted = action == InboundMessage.Action.RESTARTED
            consent_record(
                patient=patient,
                channel=Channel.SMS,
                granted=granted,
                via="SMS START" if granted else "SMS STOP",
                address=from_number,
                note=body[:255],
            )
    # Restarting needs someone to restart; an opt-out or HELP is answered whoever sent it.
    reply = "" if action == InboundMessage.Action.RESTARTED and not patients else _auto_reply(action)
    if reply:
        InboundMessage.objects.filter(pk__in=[m.pk for m in messages]).update(auto_reply=reply)
    return InboundOutcome(action=action, reply=reply, messages=messages)


# --- Heartbeats -----------------------------------------------------------------------------------


def heartbeat_record(*, component: str, now: datetime | None = None) -> None:
    """Write "``component`` last seen now" (one row per component, however many workers write it)."""
    now = now or timezone.now()
    if Heartbeat.objects.filter(component=component).update(last_seen=now):
        return
    try:
        with transaction.atomic():
            Heartbeat.objects.create(component=component, last_seen=now)
    except IntegrityError:  # another worker wrote the first row a moment ago
        Heartbeat.objects.filter(component=component).update(last_seen=now)
