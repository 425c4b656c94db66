from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Stage(models.TextChoices):
    INQUIRY = "inquiry", "Inquiry"
    DISCOVERY = "discovery", "Discovery call"
    INTAKE = "intake", "Intake"
    COMMITMENT = "commitment", "Commitment consult"
    BLUEPRINT = "blueprint", "Blueprint"
    CHECK_INS = "check_ins", "Check-ins"
    GRADUATED = "graduated", "Graduated"
    ADVOCATE = "advocate", "Advocate"
    PAUSED = "paused", "Paused"
    DECLINED = "declined", "Declined"
    WITHDRAWN = "withdrawn", "Withdrawn"


# The path, in order; the clinic's own words for each step (from "The Unbreakable Alliance").
PATH: list[str] = [
    Stage.INQUIRY,
    Stage.DISCOVERY,
    Stage.INTAKE,
    Stage.COMMITMENT,
    Stage.BLUEPRINT,
    Stage.CHECK_INS,
    Stage.GRADUATED,
    Stage.ADVOCATE,
]
STAGE_TAGLINES: dict[str, str] = {
    Stage.INQUIRY: "Someone reached out",
    Stage.DISCOVERY: "A first honest conversation",
    Stage.INTAKE: "Deep Reconnaissance",
    Stage.COMMITMENT: "The Conversion Crucible",
    Stage.BLUEPRINT: "The Strategic Blueprint",
    Stage.CHECK_INS: "The Compliance Offensive",
    Stage.GRADUATED: "Healed and on their way",
    Stage.ADVOCATE: "Tells others",
}
OFF_PATH: set[str] = {Stage.PAUSED, Stage.DECLINED, Stage.WITHDRAWN}
CLOSING: set[str] = {Stage.GRADUATED, Stage.DECLINED, Stage.WITHDRAWN}

# Every move a journey may make. Paused journeys resume to the stage they paused from (checked in services).
ALLOWED_MOVES: dict[str, set[str]] = {
    Stage.INQUIRY: {Stage.DISCOVERY, Stage.DECLINED, Stage.WITHDRAWN},
    Stage.DISCOVERY: {Stage.INTAKE, Stage.PAUSED, Stage.DECLINED, Stage.WITHDRAWN},
    Stage.INTAKE: {Stage.COMMITMENT, Stage.PAUSED, Stage.WITHDRAWN},
    Stage.COMMITMENT: {Stage.BLUEPRINT, Stage.PAUSED, Stage.DECLINED, Stage.WITHDRAWN},
    Stage.BLUEPRINT: {Stage.CHECK_INS, Stage.PAUSED, Stage.WITHDRAWN},
    Stage.CHECK_INS: {Stage.GRADUATED, Stage.PAUSED, Stage.WITHDRAWN},
    Stage.GRADUATED: {Stage.ADVOCATE},
    Stage.ADVOCATE: set(),
    Stage.PAUSED: {
        Stage.DISCOVERY,
        Stage.INTAKE,
        Stage.COMMITMENT,
        Stage.BLUEPRINT,
        Stage.CHECK_INS,
        Stage.WITHDRAWN,
    },
    Stage.DECLINED: set(),
    Stage.WITHDRAWN: set(),
}


class ExitReason(models.TextChoices):
    COST = "cost", "Cost"
    TIMING = "timing", "Not the right time"
    NOT_A_FIT = "not_a_fit", "Not a fit for our approach"
    HEALTH_CHANGE = "health_change", "Health changed (hospital, pregnancy, …)"
    MOVED = "moved", "Moved or travelling"
    NO_RESPONSE = "no_response", "Stopped responding"
    OTHER_CARE = "other_care", "Chose other care"
    OTHER = "other", "Other"


class Program(models.Model):
    """A clinic's offer: how long it runs, how often patients check in, what it costs."""

    name = models.CharField(max_length=120, unique=True)
    weeks = models.PositiveSmallIntegerField(default=12)
    checkin_every_days = models.PositiveSmallIntegerField(
        "check-in every (days)", default=7, help_text="7 for weekly check-ins."
    )
    fee = models.DecimalField(max_digits=9, decimal_places=2, default=0)
    description = models.TextField(blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(weeks__gte=1), name="program_runs_a_week_or_more"),
            models.CheckConstraint(
                condition=Q(checkin_every_days__gte=1), name="program_checkin_cadence_positive"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class JourneyQuerySet(models.QuerySet):
    def open(self):
        return self.filter(ended_at__isnull=True)


class Journey(models.Model):
    """One patient's path through a program. A patient has at most one open journey."""

    patient = models.ForeignKey("patients.Patient", on_delete=models.CASCADE, related_name="journeys")
    program = models.ForeignKey(
        Program, null=True, blank=True, on_delete=models.PROTECT, related_name="journeys"
    )
    stage = models.CharField(max_length=20, choices=Stage.choices, default=Stage.INQUIRY)
    stage_entered_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)

    objects = JourneyQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["patient"],
                condition=Q(ended_at__isnull=True),
                name="journey_one_open_per_patient",
                violation_error_message="This patient already has an open journey.",
            ),
        ]
        indexes = [
            # The pipeline's columns, each read oldest in stage first up to its limit.
            models.Index(fields=["stage", "stage_entered_at", "id"], name="journey_stage_age_id"),
            # The patients at an open stage (the patient list's stage filter counts them): their ids alone.
            models.Index(
                fields=["stage", "patient", "id"],
                condition=Q(ended_at__isnull=True),
                name="journey_open_stage_patient",
            ),
        ]

    def __str__(self) -> str:
        return f"Journey {self.pk} ({self.get_stage_display()})"

    @property
    def is_open(self) -> bool:
        return self.ended_at is None

    @property
    def days_in_stage(self) -> int:
        return (timezone.now() - self.stage_entered_at).days


class StageChange(models.Model):
    """One move of a journey, made by ``journeys.services.journey_move``. Never edited."""

    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="stage_changes")
    from_stage = models.CharField(max_length=20, choices=Stage.choices, blank=True)
    to_stage = models.CharField(max_length=20, choices=Stage.choices)
    at = models.DateTimeField(default=timezone.now)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.CharField(max_length=20, choices=ExitReason.choices, blank=True)
    note = models.TextField(blank=True)
    # When the journey made its next move (None while it is still in ``to_stage``): set by ``journey_move``,
    # so a stay's length is a column and the pipeline's median days an aggregate, not a window over history.
    left_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["journey", "-at"], name="stagechange_journey_at"),
            # The pipeline's and the funnel's flow over a period, read from the index alone on PostgreSQL.
            models.Index(fields=["at", "to_stage", "from_stage", "left_at"], name="stagechange_flow"),
        ]

    def __str__(self) -> str:
        return f"{self.from_stage or 'start'} → {self.to_stage}"


class Inquiry(models.Model):
    """What the public "Get in touch" form received, kept as the prospect wrote it."""

    class HowHeard(models.TextChoices):
        REFERRAL = "referral", "A friend or patient"
        WEBSITE = "website", "Search or our website"
        EVENT = "event", "A talk or event"
        SOCIAL = "social", "Social media"
        OTHER = "other", "Somewhere else"

    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=20, blank=True)
    message = models.TextField(blank=True)
    how_heard = models.CharField(max_length=20, choices=HowHeard.choices, blank=True)
    consent_email = models.BooleanField(default=False)
    consent_sms = models.BooleanField(default=False)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=255, blank=True)
    patient = models.ForeignKey("patients.Patient", on_delete=models.CASCADE, related_name="inquiries")
    journey = models.ForeignKey(
        Journey, null=True, blank=True, on_delete=models.SET_NULL, related_name="inquiries"
    )
    matched_existing = models.BooleanField(
        default=False, help_text="The email or phone matched a known patient."
    )
    referred_by_name = models.CharField(
        "who referred you?", max_length=200, blank=True, help_text="What the prospect wrote, if anything."
    )
    referred_by = models.ForeignKey(
        "patients.Patient",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="referred_inquiries",
        help_text="The advocate whose personal referral link it came through.",
    )

    class Meta:
        ordering = ["-received_at"]
        verbose_name_plural = "inquiries"
        indexes = [models.Index(fields=["ip_address", "-received_at"], name="inquiry_rate_limit")]

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name} ({self.received_at:%Y-%m-%d})"


LONGEST_VISIT_MINUTES = 8 * 60  # the booking form's and service's limit, held by a constraint too


class VisitQuerySet(models.QuerySet):
    def blocking(self):
        """Visits that hold their time on the practitioner's calendar: the booked ones. The booking service
        refuses an overlap with these, and the schedule never offers their time as free."""
        return self.filter(status=Visit.Status.SCHEDULED)

    def overlapping(self, starts_at, ends_at):
        """Visits that share a moment with [starts_at, ends_at). No visit lasts longer than
        ``Visit.LONGEST`` (a constraint), so the start is bounded on both sides and the
        (practitioner, starts_at) index reads the window alone, not the calendar's whole past."""
        return self.filter(
            starts_at__lt=ends_at, starts_at__gt=starts_at - Visit.LONGEST, ends_at__gt=starts_at
        )


class Visit(models.Model):
    class Kind(models.TextChoices):
        DISCOVERY = "discovery", "Discovery call"
        INTAKE = "intake", "Intake visit"
        COMMITMENT = "commitment", "Commitment consult"
        FOLLOW_UP = "follow_up", "Follow-up"

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        COMPLETED = "completed", "Completed"
        CANCELLED = "cancelled", "Cancelled"
        NO_SHOW = "no_show", "No-show"

    DEFAULT_MINUTES = {Kind.DISCOVERY: 20, Kind.INTAKE: 60, Kind.COMMITMENT: 45, Kind.FOLLOW_UP: 30}
    LONGEST = timedelta(minutes=LONGEST_VISIT_MINUTES)

    patient = models.ForeignKey("patients.Patient", on_delete=models.CASCADE, related_name="visits")
    journey = models.ForeignKey(
        Journey, null=True, blank=True, on_delete=models.SET_NULL, related_name="visits"
    )
    practitioner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="visits"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    starts_at = models.DateTimeField()
    duration_minutes = models.PositiveSmallIntegerField(default=30)
    ends_at = models.DateTimeField(editable=False, help_text="starts_at + duration, kept for overlap checks.")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.SCHEDULED)
    location = models.CharField(max_length=200, blank=True, help_text="Room, address or video link.")
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = VisitQuerySet.as_manager()

    class Meta:
        ordering = ["starts_at"]
        indexes = [
            models.Index(fields=["practitioner", "starts_at"], name="visit_practitioner_start"),
            # Today and the schedule, by day; with the id, the order they list visits in: a day of a clinic group starts
            # with a hundred visits at 9:00, which a LIMIT on (starts_at) alone sorted whole.
            models.Index(fields=["starts_at", "id"], name="visit_start_id"),
            models.Index(fields=["patient", "starts_at"], name="visit_patient_start"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(duration_minutes__gte=5), name="visit_at_least_five_minutes"),
            models.CheckConstraint(
                condition=Q(duration_minutes__lte=LONGEST_VISIT_MINUTES),
                name="visit_at_most_eight_hours",
                violation_error_message="A visit lasts at most 8 hours (480 minutes).",
            ),
            models.CheckConstraint(
                condition=Q(ends_at__gt=models.F("starts_at")), name="visit_ends_after_start"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.starts_at:%Y-%m-%d %H:%M}"

    def save(self, *args, **kwargs):
        self.ends_at = self.starts_at + timedelta(minutes=self.duration_minutes)
        super().save(*args, **kwargs)

    @property
    def has_begun(self) -> bool:
        """Whether the visit's start has come: only then may a note on it be signed."""
        return self.starts_at <= timezone.now()


class Weekday(models.IntegerChoices):
    MONDAY = 0, "Monday"
    TUESDAY = 1, "Tuesday"
    WEDNESDAY = 2, "Wednesday"
    THURSDAY = 3, "Thursday"
    FRIDAY = 4, "Friday"
    SATURDAY = 5, "Saturday"
    SUNDAY = 6, "Sunday"


class WorkingHours(models.Model):
    """When a practitioner sees patients on a weekday, in clinic time; a day may have several stretches
    (a morning and an afternoon). The schedule offers free slots inside them and nowhere else."""

    practitioner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="working_hours"
    )
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    starts = models.TimeField(help_text="Clinic time, e.g. 09:00.")
    ends = models.TimeField(help_text="Clinic time, e.g. 12:30.")

    class Meta:
        ordering = ["practitioner", "weekday", "starts"]
        verbose_name = "working hours"
        verbose_name_plural = "working hours"
        constraints = [
            models.CheckConstraint(
                condition=Q(ends__gt=models.F("starts")),
                name="workinghours_ends_after_start",
                violation_error_message="The hours must end after they start (on the same day).",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.starts:%H:%M}–{self.ends:%H:%M}"


class TimeOff(models.Model):
    """A stretch when a practitioner sees no one (a holiday, a course, a half day): the schedule offers no
    slot in it and the booking service refuses a visit that overlaps it."""

    practitioner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="time_off"
    )
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    reason = models.CharField(max_length=200, blank=True, help_text="Shown on the schedule, e.g. “Holiday”.")

    class Meta:
        ordering = ["starts_at"]
        verbose_name = "time off"
        verbose_name_plural = "time off"
        indexes = [models.Index(fields=["practitioner", "ends_at"], name="timeoff_practitioner_ends")]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=models.F("starts_at")),
                name="timeoff_ends_after_start",
                violation_error_message="Time off must end after it starts.",
            ),
        ]

    def __str__(self) -> str:
        start, end = timezone.localtime(self.starts_at), timezone.localtime(self.ends_at)
        return f"{self.reason or 'Time off'} {start:%Y-%m-%d %H:%M}–{end:%Y-%m-%d %H:%M}"


class VisitNote(models.Model):
    """A practitioner's note on a visit. Signing locks it for good; corrections are addenda."""

    INTAKE_SECTIONS = {
        "story": "The patient's story, in their words",
        "tried": "What they have tried",
        "fears": "What they fear",
        "goals": "What they hope for",
    }

    visit = models.ForeignKey(Visit, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    sections = models.JSONField(
        default=dict, blank=True, help_text="Intake sections: story, tried, fears, goals."
    )
    addendum_to = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="addenda"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    signed_at = models.DateTimeField(null=True, blank=True)

    addenda_list: list["VisitNote"]  # not a column: journeys.selectors.visit_notes sets it for the note list

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            # Today's "notes to sign": a practitioner's unsigned notes, oldest first.
            models.Index(
                fields=["author", "created_at"],
                condition=Q(signed_at__isnull=True),
                name="visitnote_unsigned_author",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_signed(self) -> bool:
        return self.signed_at is not None


class Blueprint(models.Model):
    """Version N of a journey's care plan. A published version never changes: revising makes N+1."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PUBLISHED = "published", "Published"
        SUPERSEDED = "superseded", "Superseded"

    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="blueprints")
    version = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.DRAFT)
    summary = models.TextField(blank=True, help_text="The path forward, in words the patient understands.")
    revision_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    published_at = models.DateTimeField(null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["journey", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["journey", "version"], name="blueprint_version_unique"),
            models.UniqueConstraint(
                fields=["journey"], condition=Q(status="draft"), name="blueprint_one_draft_per_journey"
            ),
            models.UniqueConstraint(
                fields=["journey"],
                condition=Q(status="published"),
                name="blueprint_one_published_per_journey",
            ),
        ]

    def __str__(self) -> str:
        return f"Blueprint v{self.version} ({self.get_status_display()})"


class ItemKind(models.TextChoices):
    SUPPLEMENT = "supplement", "Supplement"
    DIET = "diet", "Diet"
    LAB = "lab", "Lab"
    LIFESTYLE = "lifestyle", "Lifestyle"
    THERAPY = "therapy", "Therapy"


class BlueprintItem(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        PAUSED = "paused", "Paused"
        STOPPED = "stopped", "Stopped"

    blueprint = models.ForeignKey(Blueprint, on_delete=models.CASCADE, related_name="items")
    kind = models.CharField(max_length=20, choices=ItemKind.choices)
    title = models.CharField(max_length=200)
    instructions = models.TextField(blank=True)
    dose = models.CharField(max_length=100, blank=True)
    frequency = models.CharField(max_length=100, blank=True)
    starts_on = models.DateField(null=True, blank=True)
    ends_on = models.DateField(null=True, blank=True)
    position = models.PositiveSmallIntegerField(default=0)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    status_reason = models.CharField(max_length=255, blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_on__isnull=True)
                | Q(starts_on__isnull=True)
                | Q(ends_on__gte=models.F("starts_on")),
                name="blueprintitem_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return self.title


class BlueprintTemplate(models.Model):
    """A starting point admins keep for common plans (e.g. "Gut reset, 12 weeks")."""

    name = models.CharField(max_length=120, unique=True)
    program = models.ForeignKey(Program, null=True, blank=True, on_delete=models.SET_NULL)
    summary = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class BlueprintTemplateItem(models.Model):
    template = models.ForeignKey(BlueprintTemplate, on_delete=models.CASCADE, related_name="items")
    kind = models.CharField(max_length=20, choices=ItemKind.choices)
    title = models.CharField(max_length=200)
    instructions = models.TextField(blank=True)
    dose = models.CharField(max_length=100, blank=True)
    frequency = models.CharField(max_length=100, blank=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.title


class CheckIn(models.Model):
    """One scheduled check-in of a journey; answered through a signed link in its request nudge.

    A ``follow_up`` check-in ("how are you now?") comes 1, 3 and 6 months after graduation: the same page,
    no plan items, never counted as adherence.
    """

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        ANSWERED = "answered", "Answered"
        MISSED = "missed", "Missed"

    class Kind(models.TextChoices):
        PROGRAM = "program", "Weekly check-in"
        FOLLOW_UP = "follow_up", "How are you now? (after graduation)"

    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="checkins")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.PROGRAM)
    due_on = models.DateField(help_text="The day the request goes out, in the patient's own calendar.")
    closes_at = models.DateTimeField(help_text="After this the check-in counts as missed.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SCHEDULED)
    answered_at = models.DateTimeField(null=True, blank=True)
    request_nudge = models.ForeignKey(
        "nudges.Nudge", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="The nudge that asked for this check-in (for response-rate attribution).",
    )  # fmt: skip

    class Meta:
        ordering = ["due_on"]
        constraints = [models.UniqueConstraint(fields=["journey", "due_on"], name="checkin_one_per_day")]
        indexes = [
            models.Index(fields=["status", "closes_at"], name="checkin_status_closes"),
            # Today's and Insights' windows: check-ins due, and answered, in a date range.
            models.Index(fields=["due_on"], name="checkin_due_on"),
            models.Index(
                fields=["answered_at"], condition=Q(answered_at__isnull=False), name="checkin_answered"
            ),
            # A practitioner's Today: their patients' check-ins answered since yesterday, one range per journey
            # (by ``journey`` alone each probe read every check-in of the journey).
            models.Index(
                fields=["journey", "answered_at"],
                condition=Q(answered_at__isnull=False),
                name="checkin_answered_by_journey",
            ),
        ]

    def __str__(self) -> str:
        return f"Check-in due {self.due_on:%Y-%m-%d}"


# The patient's own intake questionnaire lives in its own module (journeys/intake_models.py).
from .intake_models import (  # noqa: E402, F401
    Agreement,
    AgreementSignature,
    QuestionKind,
    Questionnaire,
    QuestionnaireAnswer,
    QuestionnaireQuestion,
    QuestionnaireResponse,
    QuestionnaireSection,
)
