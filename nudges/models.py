from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from patients.models import Channel


class Kind(models.TextChoices):
    INQUIRY_WELCOME = "inquiry_welcome", "Inquiry welcome"
    VISIT_REMINDER = "visit_reminder", "Visit reminder"
    CHECKIN_REQUEST = "checkin_request", "Check-in request"
    CHECKIN_MISSED = "checkin_missed", "Missed check-in follow-up"
    ADHERENCE_OUTREACH = "adherence_outreach", "Adherence outreach"
    GRADUATION = "graduation", "Graduation"
    REFERRAL_THANKS = "referral_thanks", "Referral thanks"
    ONE_OFF = "one_off", "One-off message"
    INTAKE_QUESTIONNAIRE = "intake_questionnaire", "Intake questionnaire"
    INTAKE_REMINDER = "intake_reminder", "Intake questionnaire reminder"
    FOLLOW_UP_CHECKIN = "follow_up_checkin", "How are you now? (after graduation)"
    ADVOCACY_ASK = "advocacy_ask", "Referral or testimonial ask"


# Marketing-type messages: never without the patient's explicit marketing consent, and only between
# MARKETING_HOURS local, whatever the patient's own quiet hours allow.
MARKETING_KINDS = frozenset({Kind.REFERRAL_THANKS, Kind.ADVOCACY_ASK})


class MessageTemplate(models.Model):
    """The wording of one kind of nudge on one channel. Admins edit it; the shipped default is its first version.

    Rendered with Django's template language over a context of plain strings only (see ``nudges.rendering``).
    """

    kind = models.CharField(max_length=30, choices=Kind.choices)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    subject = models.CharField(max_length=200, blank=True, help_text="Email only.")
    body = models.TextField(
        help_text="Plain text. For email, the HTML part is made from it with line breaks kept."
    )
    active = models.BooleanField(
        default=True, help_text="Untick to fall back to the wording shipped with Alliance."
    )
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["kind", "channel"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "channel"], name="messagetemplate_one_per_kind_channel")
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.get_channel_display()})"


class NudgeRule(models.Model):
    """When a kind of nudge goes out, relative to the event that causes it; admins tune it per kind."""

    kind = models.CharField(max_length=30, choices=Kind.choices, unique=True)
    enabled = models.BooleanField(default=True, help_text="Untick to stop scheduling this kind of nudge.")
    offsets_minutes = models.JSONField(
        default=list,
        blank=True,
        help_text="Minutes relative to the event: negative before it (visit reminders: [-1440, -120]), "
        "positive after it (a missed check-in follow-up a day later: [1440]).",
    )
    note = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["kind"]

    def __str__(self) -> str:
        return self.get_kind_display()


class NudgeQuerySet(models.QuerySet):
    def due(self, now=None):
        return self.filter(status=Nudge.Status.PENDING, send_at__lte=now or timezone.now())

    def claim_expired(self, *, older_than):
        """Claimed by a batch that has not taken them for their own send since ``older_than``: never attempted."""
        return self.filter(status=Nudge.Status.SENDING, taken_at__isnull=True, claimed_at__lt=older_than)

    def take_expired(self, *, older_than):
        """Taken for their transport before ``older_than`` and never marked since: they may have left."""
        return self.filter(status=Nudge.Status.SENDING, taken_at__lt=older_than)

    def needs_review(self):
        return self.filter(status__in=[Nudge.Status.FAILED, Nudge.Status.UNKNOWN], reviewed_at__isnull=True)

    def upcoming(self):
        """Still to go: scheduled, or being sent this moment."""
        return self.filter(status__in=[Nudge.Status.PENDING, Nudge.Status.SENDING])

    def history(self):
        """Done with: sent, held back, withdrawn, or failed and unknown ones a person has looked at."""
        return self.filter(
            Q(status__in=[Nudge.Status.SENT, Nudge.Status.SUPPRESSED, Nudge.Status.CANCELLED])
            | Q(status__in=[Nudge.Status.FAILED, Nudge.Status.UNKNOWN], reviewed_at__isnull=False)
        )


class Nudge(models.Model):
    """The outbox: one message to one patient, sent at most once per ``dedupe_key``.

    A row is claimed (pending → sending, ``claimed_at``) by a batch, then *taken* for its own send
    (``taken_at``) by a conditional UPDATE just before its transport runs. The database, never the
    broker, decides what goes out: a claimed row that was never taken can safely go back to pending;
    only a taken one may have left, and only a taken one can become ``unknown``.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Scheduled"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        SUPPRESSED = "suppressed", "Held back"
        UNKNOWN = "unknown", "Unknown: check before resending"
        CANCELLED = "cancelled", "Withdrawn"

    patient = models.ForeignKey("patients.Patient", on_delete=models.CASCADE, related_name="nudges")
    kind = models.CharField(max_length=30, choices=Kind.choices)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    send_at = models.DateTimeField(help_text="Not before this moment; quiet hours may push it later.")
    expires_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Not after this moment (a reminder for a visit that has begun): held back.",
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    dedupe_key = models.CharField(max_length=200, unique=True)
    context = models.JSONField(default=dict, blank=True, help_text="Plain values the wording needs.")
    attempts = models.PositiveSmallIntegerField(
        default=0, help_text="How many times a transport was run for it."
    )
    last_error = models.TextField(blank=True)
    status_reason = models.CharField(
        max_length=255, blank=True, help_text="Why it was held back, deferred or withdrawn."
    )
    claimed_at = models.DateTimeField(
        null=True, blank=True, help_text="When a dispatcher claimed it for a batch (its lease starts here)."
    )
    taken_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When it was taken for its own send, just before the transport ran: from here it may have left.",
    )
    sent_at = models.DateTimeField(null=True, blank=True)
    provider_id = models.CharField(max_length=120, blank=True)
    subject = models.CharField(max_length=255, blank=True)
    body_text = models.TextField(blank=True)
    body_html = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = NudgeQuerySet.as_manager()
    message: Any  # not a column: nudges.selectors.outbox_messages sets it (a Message) for the outbox's rows

    class Meta:
        ordering = ["-send_at", "-id"]
        indexes = [
            # The claim reads due rows in (send_at, id) order and stops at its batch size.
            models.Index(fields=["send_at", "id"], condition=Q(status="pending"), name="nudge_due_in_order"),
            models.Index(fields=["patient", "-send_at"], name="nudge_patient_recent"),
            models.Index(fields=["status", "-send_at"], name="nudge_status_recent"),
            models.Index(fields=["-send_at", "-id"], name="nudge_outbox_order"),  # the outbox, newest first
            # The outbox's Upcoming: what is still to go, soonest first (the claim's index holds pending only).
            models.Index(
                fields=["send_at", "id"],
                condition=Q(status__in=["pending", "sending"]),
                name="nudge_upcoming",
            ),
            # The outbox's History, newest first: without it a page would first skip every message to come.
            models.Index(
                fields=["-send_at", "-id"],
                condition=Q(status__in=["sent", "suppressed", "cancelled"])
                | Q(status__in=["failed", "unknown"], reviewed_at__isnull=False),
                name="nudge_history",
            ),
            # The review list (oldest first) and its counts, over the few rows waiting for a person.
            models.Index(
                fields=["send_at", "id", "status"],
                condition=Q(status__in=["failed", "unknown"], reviewed_at__isnull=True),
                name="nudge_needs_review",
            ),
            # Insights' response rates: requests sent in a window.
            models.Index(fields=["sent_at"], condition=Q(sent_at__isnull=False), name="nudge_sent_at"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="sent") | Q(sent_at__isnull=False), name="nudge_sent_has_sent_at"
            ),
            models.CheckConstraint(
                condition=~Q(status="sending") | Q(claimed_at__isnull=False), name="nudge_sending_is_claimed"
            ),
            models.CheckConstraint(
                condition=~Q(status="pending") | Q(taken_at__isnull=True), name="nudge_pending_is_not_taken"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} by {self.get_channel_display()} to patient {self.patient_id}"


class InboundMessage(models.Model):
    """What a patient wrote back (an SMS or an email reply), kept whole and threaded with what we sent them.

    Every reply is kept — opt-outs, HELP and START included — so the care team sees what the patient said and
    what the clinic answered automatically. A text from a number no patient has is kept without a patient.
    """

    class Action(models.TextChoices):
        KEPT = "kept", "Kept for the care team"
        OPTED_OUT = "opted_out", "Opted out of text messages"
        RESTARTED = "restarted", "Restarted text messages"
        HELP = "help", "Asked for help"
        CONFIRMED = "confirmed", "Confirmed consent to texts"

    patient = models.ForeignKey(
        "patients.Patient", null=True, blank=True, on_delete=models.CASCADE, related_name="inbound_messages"
    )
    channel = models.CharField(max_length=10, choices=Channel.choices)
    from_address = models.CharField(max_length=254, help_text="The number (or address) it came from.")
    body = models.TextField(blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    provider_id = models.CharField(
        max_length=64, blank=True, help_text="The provider's id (Twilio MessageSid)."
    )
    in_reply_to = models.ForeignKey(
        Nudge,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="replies",
        help_text="The last message sent to the patient on this channel before this one arrived.",
    )
    action = models.CharField(max_length=12, choices=Action.choices, default=Action.KEPT)
    auto_reply = models.TextField(
        blank=True, help_text="What the clinic answered automatically, if anything."
    )
    subject = models.CharField(max_length=255, blank=True, help_text="An email reply's subject.")
    checkin_request = models.ForeignKey(
        Nudge,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="checkin_replies",
        help_text="The check-in request sent within a few days before it: the reply is the patient's words "
        "about that check-in.",
    )

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["patient", "-received_at"], name="inbound_patient_recent")]
        constraints = [
            models.UniqueConstraint(
                fields=["provider_id", "patient"],
                condition=~Q(provider_id=""),
                name="inbound_once_per_provider_message",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} reply from patient {self.patient_id or 'unknown'}"


class ConversationRead(models.Model):
    """How far one member of the clinic has read one patient's conversation: what arrived after ``read_at``
    is unread for them."""

    patient = models.ForeignKey("patients.Patient", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    read_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "patient"], name="conversation_read_once_per_user")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} read patient {self.patient_id} up to {self.read_at:%Y-%m-%d %H:%M}"


class Heartbeat(models.Model):
    """When the Celery worker and beat were last seen alive: the outbox sends nothing without them.

    The worker writes its row when it runs the heartbeat task beat schedules; beat writes its own as it
    schedules (``nudges.beat.Scheduler``). ``/healthz`` reads both.
    """

    class Component(models.TextChoices):
        WORKER = "worker", "Celery worker"
        BEAT = "beat", "Celery beat"

    component = models.CharField(max_length=10, choices=Component.choices, primary_key=True)
    last_seen = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.get_component_display()} last seen {self.last_seen:%Y-%m-%d %H:%M:%S}"
