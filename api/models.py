from django.conf import settings
from django.core.validators import URLValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.models import DomainEvent


class Scope(models.TextChoices):
    """What an API key may do. Clinical text (plan instructions, the patient's own words) needs ``clinical``
    on top of the read scope, as a page needs a practitioner or an admin."""

    PATIENTS_READ = "patients:read", "Read patients, journeys and check-ins"
    SCHEDULE_READ = "schedule:read", "Read the schedule"
    SCHEDULE_WRITE = "schedule:write", "Book visits"
    INQUIRIES_WRITE = "inquiries:write", "Send inquiries (the website form's twin)"
    OUTBOX_READ = "outbox:read", "Read the status of messages"
    CLINICAL_READ = "clinical:read", "Read clinical text (with a read scope)"


class ApiKeyQuerySet(models.QuerySet):
    def usable(self):
        return self.filter(revoked_at__isnull=True)


class ApiKey(models.Model):
    """A key another system signs its API calls with. Only its SHA-256 is kept: the key itself is shown
    once, when an admin creates it (``api.services.api_key_create``)."""

    name = models.CharField(max_length=120, help_text="Which system uses it, e.g. “Website”, “Zapier”.")
    prefix = models.CharField(max_length=16, unique=True, editable=False, help_text="Its first characters.")
    hashed = models.CharField(max_length=64, editable=False)
    scopes = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+", editable=False
    )
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
    )

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def allows(self, scope: str) -> bool:
        return scope in self.scopes


def validate_https(value: str) -> None:
    URLValidator(
        schemes=["https"], message="Give an https:// address: deliveries are signed, and sent encrypted."
    )(value)


class WebhookEndpoint(models.Model):
    """An HTTPS address another system listens on for the events it chose. Each delivery is signed with
    ``secret`` (HMAC-SHA256 over ``timestamp.body``)."""

    name = models.CharField(max_length=120)
    url = models.URLField(max_length=500, validators=[validate_https])
    events = models.JSONField(default=list, help_text="Event names, e.g. inquiry.received.")
    secret = models.CharField(max_length=64, editable=False)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+", editable=False
    )

    class Meta:
        ordering = ["name"]
        verbose_name = "webhook endpoint"

    def __str__(self) -> str:
        return self.name


class WebhookDeliveryQuerySet(models.QuerySet):
    def due(self, now=None):
        return self.filter(status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now or timezone.now())


class WebhookDelivery(models.Model):
    """One event to one endpoint: the outbox row of a webhook. Claimed (pending → sending) by one
    dispatcher with a conditional UPDATE before its request goes; retried with backoff while the endpoint
    answers an error; ``unknown`` when a dispatcher died mid-request (never resent by itself)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting"
        SENDING = "sending", "Sending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Gave up"
        UNKNOWN = "unknown", "Unknown: check before resending"

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(DomainEvent, on_delete=models.PROTECT, related_name="+")
    event_name = models.CharField(max_length=40)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = WebhookDeliveryQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event"], name="webhookdelivery_once_per_endpoint"),
            models.CheckConstraint(
                condition=~Q(status="sending") | Q(claimed_at__isnull=False),
                name="webhookdelivery_sending_claimed",
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at", "id"], condition=Q(status="pending"), name="webhookdelivery_due"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_name} → {self.endpoint}"


class WebhookAttempt(models.Model):
    """One try of a delivery, as the delivery log shows it."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="tries")
    at = models.DateTimeField(default=timezone.now)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=255, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.status_code or self.error}"


class WebhookCursor(models.Model):
    """How far the fan-out has read the domain events: one row."""

    last_event_id = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(pk=1), name="webhookcursor_single_row")]

    def __str__(self) -> str:
        return f"events read up to {self.last_event_id}"
