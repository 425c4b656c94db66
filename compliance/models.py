from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.queries import Compiled, built_per_thread


class ClinicSettings(models.Model):
    """The clinic's thresholds for noticing faltering early; one row, edited in admin."""

    adherence_threshold = models.PositiveSmallIntegerField(
        "adherence threshold (%)",
        default=70,
        validators=[MaxValueValidator(100)],
        help_text="The line the plan aims to stay above; charts draw it.",
    )
    low_margin_points = models.PositiveSmallIntegerField(
        "margin below the threshold (points)",
        default=20,
        validators=[MaxValueValidator(100)],
        help_text="The recent check-ins must score this far below the threshold before the patient needs "
        "attention, so a week of ordinary ups and downs is not an alert.",
    )
    min_reports = models.PositiveSmallIntegerField(
        "item reports needed",
        default=6,
        validators=[MinValueValidator(1)],
        help_text="The low-adherence and drop rules speak only with at least this many item reports to read "
        "(from the last two check-ins, or up to four when the plan is small).",
    )
    missed_in_a_row = models.PositiveSmallIntegerField(
        default=1,
        validators=[MinValueValidator(1)],
        help_text="This many check-ins closing unanswered in a row open an alert.",
    )
    answer_wait_days = models.PositiveSmallIntegerField(
        "no answer after (days)",
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Also open an alert when a check-in request has had no answer for this many days, before "
        "it closes. Blank: when the check-in closes.",
    )
    drop_points = models.PositiveSmallIntegerField(
        "drop from the patient's usual (points)",
        default=40,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text="A fall this large from the check-ins of the window before to the recent ones opens an alert.",
    )
    hard_week_points = models.PositiveSmallIntegerField(
        "a hard week, told in their words (points)",
        default=50,
        validators=[MaxValueValidator(100)],
        help_text="When the newest check-in alone scores this far below the patient's usual and they told us "
        "what got in the way (a barrier or their own words), the drop is noticed at once instead of a week "
        "later. 0 switches it off.",
    )
    outreach_every_days = models.PositiveSmallIntegerField(
        "at most one automatic outreach every (days)",
        default=14,
        validators=[MinValueValidator(1)],
        help_text="However many alerts open, the patient gets at most one warm outreach message in this time.",
    )
    window_days = models.PositiveSmallIntegerField(
        "adherence window (days)", default=28, validators=[MinValueValidator(7), MaxValueValidator(365)]
    )
    amend_hours = models.PositiveSmallIntegerField(
        "patients may change an answer for (hours)", default=24, validators=[MaxValueValidator(24 * 14)]
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = verbose_name_plural = "clinic settings"
        constraints = [models.CheckConstraint(condition=Q(pk=1), name="clinicsettings_single_row")]

    def __str__(self) -> str:
        return "Clinic settings"

    @classmethod
    def load(cls) -> "ClinicSettings":
        """The clinic's settings, in one query, never written on a read: the row migration 0002 made, or,
        should it be missing (after a flush), the defaults, unsaved, until an admin saves them."""
        found = _settings_compiled().rows()
        return found[0] if found else cls(pk=1)


@built_per_thread
def _settings_compiled() -> Compiled[ClinicSettings]:
    """``load()``'s read (``.filter(pk=1).first()``'s SQL) compiled once per thread: most pages read the
    settings, and compiling the read cost more than running it."""
    return Compiled(ClinicSettings.objects.filter(pk=1).order_by("pk")[:1])


class Barrier(models.TextChoices):
    COST = "cost", "Cost"
    TIME = "time", "Time"
    SIDE_EFFECTS = "side_effects", "Side effects"
    TASTE = "taste", "Taste or tolerability"
    FORGOT = "forgot", "Forgot"
    UNCLEAR = "unclear", "Instructions unclear"
    LIFE_EVENT = "life_event", "Life event"
    FAMILY = "family", "Family support"
    OTHER = "other", "Other"


class CheckInAnswer(models.Model):
    """A patient's answer to one weekly check-in (by link, or taken by phone by the clinic)."""

    class Via(models.TextChoices):
        LINK = "link", "Check-in link"
        PHONE = "phone", "By phone, entered by the clinic"

    checkin = models.OneToOneField("journeys.CheckIn", on_delete=models.CASCADE, related_name="answer")
    patient = models.ForeignKey("patients.Patient", on_delete=models.CASCADE, related_name="checkin_answers")
    answered_at = models.DateTimeField(default=timezone.now)
    amended_at = models.DateTimeField(null=True, blank=True)
    where_it_failed = models.TextField(
        "where did my plan fail you this week?", blank=True, help_text="The patient's own words."
    )
    barriers = models.JSONField(default=list, blank=True, help_text="Barrier categories the patient chose.")
    energy = models.PositiveSmallIntegerField(null=True, blank=True, validators=[MaxValueValidator(10)])
    sleep = models.PositiveSmallIntegerField(null=True, blank=True, validators=[MaxValueValidator(10)])
    mood = models.PositiveSmallIntegerField(null=True, blank=True, validators=[MaxValueValidator(10)])
    digestion = models.PositiveSmallIntegerField(null=True, blank=True, validators=[MaxValueValidator(10)])
    via = models.CharField(max_length=10, choices=Via.choices, default=Via.LINK)
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # The answer's item reports tallied, and its check-in's due day: kept by ``checkin_answer_record`` with
    # the logs, so the clinic's adherence over a range is a sum over answers, not a join over every log.
    due_on = models.DateField(null=True, blank=True, editable=False)
    done = models.PositiveSmallIntegerField(default=0, editable=False)
    partly = models.PositiveSmallIntegerField(default=0, editable=False)
    missed = models.PositiveSmallIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["-answered_at"]
        indexes = [
            models.Index(fields=["patient", "-answered_at"], name="answer_patient_recent"),
            models.Index(fields=["answered_at"], name="answer_answered_at"),  # Insights' barriers window
            # Insights' adherence: the range's answers read from the index alone on PostgreSQL.
            models.Index(fields=["due_on", "patient", "done", "partly", "missed"], name="answer_due_tally"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(**{f"{rating}__isnull": True}) | Q(**{f"{rating}__lte": 10}),
                name=f"answer_{rating}_0_to_10",
            )
            for rating in ("energy", "sleep", "mood", "digestion")
        ]

    def __str__(self) -> str:
        return f"Answer to {self.checkin}"


class ComplianceLog(models.Model):
    """How one plan item went in one check-in week, in the patient's answer."""

    class Status(models.TextChoices):
        DONE = "done", "Done"
        PARTIAL = "partial", "Partly"
        MISSED = "missed", "Not this week"
        PAUSED = "paused", "Paused on purpose"

    SCORES = {Status.DONE: 1.0, Status.PARTIAL: 0.5, Status.MISSED: 0.0}  # paused: not counted at all

    answer = models.ForeignKey(CheckInAnswer, on_delete=models.CASCADE, related_name="logs")
    checkin = models.ForeignKey("journeys.CheckIn", on_delete=models.CASCADE, related_name="compliance_logs")
    item = models.ForeignKey(
        "journeys.BlueprintItem", on_delete=models.PROTECT, related_name="compliance_logs"
    )
    status = models.CharField(max_length=10, choices=Status.choices)
    paused_reason = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["checkin", "item"]
        constraints = [
            models.UniqueConstraint(
                fields=["checkin", "item"], name="compliancelog_one_per_item_per_checkin"
            ),
            models.CheckConstraint(
                condition=~Q(status="paused") | ~Q(paused_reason=""), name="compliancelog_paused_has_reason"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.item_id}: {self.get_status_display()}"


class Alert(models.Model):
    """One stretch of faltering of one patient: at most one open per patient, carrying every reason seen
    (``reason``/``detail`` are the first), resolved by a course correction. ``escalated_at`` marks a patient
    who stayed silent after outreach: a person should call them."""

    class Reason(models.TextChoices):
        LOW_ADHERENCE = "low_adherence", "Low adherence"
        MISSED_CHECKINS = "missed_checkins", "Missed check-ins"
        ADHERENCE_DROP = "adherence_drop", "Adherence dropped"
        SIDE_EFFECT = "side_effect", "Side effect reported"

    patient = models.ForeignKey("patients.Patient", on_delete=models.CASCADE, related_name="alerts")
    journey = models.ForeignKey(
        "journeys.Journey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(max_length=20, choices=Reason.choices)
    detail = models.CharField(
        max_length=255, help_text="What was seen, e.g. 55% over the last two check-ins."
    )
    opened_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolution = models.TextField(blank=True)
    reasons = models.JSONField(
        default=list,
        blank=True,
        help_text='Every reason seen while open: [{"reason", "detail", "at"}], first first.',
    )
    escalated_at = models.DateTimeField(
        null=True, blank=True, help_text="The patient stayed silent after outreach: call them."
    )
    answer = models.ForeignKey(
        CheckInAnswer, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="The answer whose words told of a side effect.",
    )  # fmt: skip
    outreach_nudge = models.ForeignKey(
        "nudges.Nudge", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-opened_at"]
        indexes = [
            # The alerts page: open ones oldest first, resolved ones newest first.
            models.Index(
                fields=["opened_at", "id"], condition=Q(resolved_at__isnull=True), name="alert_open_oldest"
            ),
            models.Index(
                fields=["-resolved_at", "-id"],
                condition=Q(resolved_at__isnull=False),
                name="alert_resolved_recent",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["patient"], condition=Q(resolved_at__isnull=True), name="alert_one_open_per_patient"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_reason_display()}: {self.detail}"

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None

    @property
    def all_reasons(self) -> list[dict]:
        """Each reason with its label and what was seen, the first first (also for alerts from before
        ``reasons`` was kept)."""
        rows = self.reasons or [{"reason": self.reason, "detail": self.detail}]
        return [{**row, "label": _REASON_LABELS.get(row["reason"], row["reason"])} for row in rows]

    @property
    def reason_values(self) -> list[str]:
        return [row["reason"] for row in self.all_reasons]


# Built once: ``Choices.choices`` builds its list on every call, and the alerts list asks for every row's labels.
_REASON_LABELS = dict(Alert.Reason.choices)


class CourseCorrection(models.Model):
    """What the practitioner changed in answer to an alert — the plan adapts, the patient is not blamed."""

    class Change(models.TextChoices):
        DOSE_ADJUSTED = "dose_adjusted", "Dose adjusted"
        ITEM_SWAPPED = "item_swapped", "Item swapped"
        SIMPLIFIED = "simplified", "Plan simplified"
        CALL_BOOKED = "call_booked", "Call booked"
        OTHER = "other", "Other"

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="corrections")
    practitioner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    change = models.CharField(max_length=20, choices=Change.choices)
    note = models.TextField()
    blueprint = models.ForeignKey(
        "journeys.Blueprint", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="The new blueprint version, when the plan was revised.",
    )  # fmt: skip
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_change_display()} ({self.created_at:%Y-%m-%d})"
