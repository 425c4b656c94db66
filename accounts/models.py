from django.contrib.auth.models import AbstractBaseUser, PermissionsMixin, UserManager
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    PRACTITIONER = "practitioner", "Practitioner"
    STAFF = "staff", "Clinic staff"


class AllianceUserManager(UserManager):
    # _create_user_object and _create_user are Django's own, private, so django-stubs leaves them out.
    def _create_user_object(self, username, email, password, **extra_fields):
        extra_fields.pop("is_staff", None)  # derived from the role, see User.is_staff
        return super()._create_user_object(username, email, password, **extra_fields)  # type: ignore[misc]

    def create_superuser(self, username, email=None, password=None, **extra_fields):
        extra_fields.setdefault("role", Role.ADMIN)
        extra_fields.setdefault("is_superuser", True)
        return self._create_user(username, email, password, **extra_fields)  # type: ignore[attr-defined]


class User(AbstractBaseUser, PermissionsMixin):
    """A person who signs in: an admin, a practitioner or a member of the clinic staff.

    Access to Django admin (``is_staff``) follows from the role and is never stored apart from it.
    """

    username = models.CharField(
        max_length=150,
        unique=True,
        validators=[UnicodeUsernameValidator()],
        help_text="Letters, digits and @/./+/-/_ only.",
        error_messages={"unique": "Someone already signs in with that username."},
    )
    display_name = models.CharField(
        max_length=120, blank=True, help_text="How colleagues and patients see this person."
    )
    email = models.EmailField(blank=True)
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.STAFF)
    is_active = models.BooleanField(
        default=True, help_text="Untick instead of deleting, so the audit trail keeps its author."
    )
    date_joined = models.DateTimeField(default=timezone.now)

    objects = AllianceUserManager()

    USERNAME_FIELD = "username"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["email"]

    class Meta:
        ordering = ["display_name", "username"]

    def __str__(self) -> str:
        return self.display_name or self.username

    def get_full_name(self) -> str:
        return str(self)

    def get_short_name(self) -> str:
        return str(self)

    @property
    def is_staff(self) -> bool:
        """Django admin is for admins only."""
        return self.is_active and self.role == Role.ADMIN

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def is_practitioner(self) -> bool:
        return self.role == Role.PRACTITIONER

    @property
    def can_read_clinical(self) -> bool:
        """Visit notes and the intake story are for practitioners and admins only."""
        return self.is_active and self.role in (Role.ADMIN, Role.PRACTITIONER)

    def has_perm(self, perm: str, obj: models.Model | None = None) -> bool:
        if self.is_active and self.role == Role.ADMIN:
            return True
        return super().has_perm(perm, obj)

    def has_module_perms(self, app_label: str) -> bool:
        if self.is_active and self.role == Role.ADMIN:
            return True
        return super().has_module_perms(app_label)


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise PermissionError("The audit trail is append-only.")

    def delete(self):
        raise PermissionError("The audit trail is append-only.")


class AccessEvent(models.Model):
    """One access to a patient's record: who, what, which patient(s), which object, when, from where.

    Append-only: rows are created by ``accounts.audit.record_access`` and never changed. Each row is
    chained to the one before it: ``seq`` numbers the rows without gaps, ``prev_hash`` is the previous
    row's ``hash``, and ``hash`` is SHA-256 over the row's canonical form (``accounts.chain``), so a row
    changed or removed behind the application's back is found by ``manage.py verify_audit``. On
    PostgreSQL a trigger refuses UPDATE and DELETE on the table.
    """

    class Action(models.TextChoices):
        VIEW = "view", "Viewed"
        LIST = "list", "Listed"
        CREATE = "create", "Created"
        UPDATE = "update", "Updated"
        EXPORT = "export", "Exported"
        DELETE = "delete", "Deleted"
        DENIED = "denied", "Refused access"

    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="access_events"
    )
    actor_label = models.CharField(
        max_length=120, blank=True, help_text="Who acted when no user did (a patient's signed link, a task)."
    )
    action = models.CharField(max_length=10, choices=Action.choices)
    # Patients live on a higher floor (patients/): the id is kept without a foreign key so that
    # this app never imports them, and so that the trail outlives any record it speaks of.
    patient_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    # A list page's row: every patient shown on the page, in the page's order (plain ids, no keys).
    patient_ids = models.JSONField(default=list, blank=True)
    object_type = models.ForeignKey(ContentType, null=True, blank=True, on_delete=models.PROTECT)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=200, blank=True)
    detail = models.CharField(max_length=255, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=255, blank=True)
    path = models.CharField(max_length=255, blank=True)
    seq = models.PositiveBigIntegerField(unique=True, editable=False)
    prev_hash = models.CharField(max_length=64, editable=False)
    hash = models.CharField(max_length=64, editable=False)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["patient_id", "-at"], name="accessevent_patient_at")]

    def __str__(self) -> str:
        who = self.actor or self.actor_label or "someone"
        return f"{who} {self.get_action_display().lower()} {self.object_repr or 'a record'}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise PermissionError("The audit trail is append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("The audit trail is append-only.")


class UserSession(models.Model):
    """A session a user signed in with, so that switching the user off can end every one of them.

    Written by ``accounts.middleware.SessionPolicyMiddleware`` the first time it sees a session key;
    ended by ``accounts.services.user_sessions_end``.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="sessions")
    session_key = models.CharField(max_length=40, unique=True)
    started_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.user} since {self.started_at:%Y-%m-%d %H:%M}"


class DomainEvent(models.Model):
    """Something that happened to a patient's care that another system may want to hear of (an inquiry
    received, a stage changed, a visit booked…): written by the service that causes it, in its transaction,
    by ``accounts.events.domain_event_record``. Plain ids, never clinical text; append-only.

    The API floor's webhooks read these rows (``api.services.webhooks_fan_out``); no lower floor knows of
    the API. Kept here, on the lowest floor every service can reach, beside the audit trail.
    """

    class Name(models.TextChoices):
        INQUIRY_RECEIVED = "inquiry.received", "Inquiry received"
        STAGE_CHANGED = "stage.changed", "Stage changed"
        VISIT_BOOKED = "visit.booked", "Visit booked"
        VISIT_CANCELLED = "visit.cancelled", "Visit cancelled"
        CHECKIN_ANSWERED = "checkin.answered", "Check-in answered"
        ALERT_OPENED = "alert.opened", "Alert opened"
        ALERT_RESOLVED = "alert.resolved", "Alert resolved"

    name = models.CharField(max_length=40, choices=Name.choices)
    at = models.DateTimeField(default=timezone.now)
    patient_id = models.BigIntegerField(null=True, blank=True)
    object_id = models.BigIntegerField(null=True, blank=True)
    data = models.JSONField(default=dict, blank=True, help_text="Ids and codes only.")

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["at"], name="domainevent_at")]

    def __str__(self) -> str:
        return f"{self.name} #{self.object_id}"
