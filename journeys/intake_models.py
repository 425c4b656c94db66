"""The patient's own intake questionnaire: versioned questionnaires an admin edits, the answers a patient gives
through their signed link, and the clinic agreements they sign at the end.

Shaped like FHIR R4 so that an export is a mapping: a ``Questionnaire`` row is one version of a FHIR
Questionnaire (``slug`` + ``version``, ``status`` draft | active | retired), a section is an item of type
``group``, a question an item with its own ``link_id`` and an answer type; a ``QuestionnaireResponse`` is
one patient's response (``in-progress`` | ``completed`` | ``stopped``) and each ``QuestionnaireAnswer``
carries the ``link_id`` it answers. ``journeys.intake_fhir`` does the mapping.

A published (``active``) version never changes: ``journeys.intake_services`` refuses edits to it and the
admin shows it read-only; a change is a new draft version, and every response keeps the version it answered.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

LINK_ID_HELP = (
    "A short stable name (letters, digits, dashes), unique within the questionnaire: FHIR's linkId."
)


class Questionnaire(models.Model):
    """One version of a questionnaire. Publishing makes it the one sent; a published version never changes."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        ACTIVE = "active", "Published"
        RETIRED = "retired", "Retired"

    slug = models.SlugField(max_length=60, help_text="Names the questionnaire across its versions.")
    version = models.PositiveSmallIntegerField(default=1)
    title = models.CharField(max_length=200)
    intro = models.TextField(blank=True, help_text="The welcome the patient reads first.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    link_valid_days = models.PositiveSmallIntegerField(
        "link valid for (days)",
        default=21,
        help_text="How long the patient's link works after it is sent; it always stops when the visit starts.",
    )
    created_at = models.DateTimeField(default=timezone.now)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["slug", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["slug", "version"], name="questionnaire_version_unique"),
            models.UniqueConstraint(
                fields=["slug"],
                condition=Q(status="active"),
                name="questionnaire_one_published",
                violation_error_message="Another version of this questionnaire is already published.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title} v{self.version} ({self.get_status_display()})"

    @property
    def is_editable(self) -> bool:
        return self.status == self.Status.DRAFT


class QuestionnaireSection(models.Model):
    """One screen of the form (a FHIR item of type ``group``)."""

    class NoteField(models.TextChoices):
        STORY = "story", "The patient's story"
        TRIED = "tried", "What they have tried"
        FEARS = "fears", "What they fear"
        GOALS = "goals", "What they hope for"
        BODY = "body", "The note's body"

    questionnaire = models.ForeignKey(Questionnaire, on_delete=models.CASCADE, related_name="sections")
    link_id = models.SlugField(max_length=60, help_text=LINK_ID_HELP)
    title = models.CharField(max_length=200)
    intro = models.TextField(blank=True)
    position = models.PositiveSmallIntegerField(default=0)
    note_field = models.CharField(
        max_length=10,
        choices=NoteField.choices,
        default=NoteField.BODY,
        help_text="Where “copy into the note” puts this section on the intake note.",
    )

    class Meta:
        ordering = ["questionnaire", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["questionnaire", "link_id"], name="section_link_id_unique")
        ]

    def __str__(self) -> str:
        return self.title


class QuestionKind(models.TextChoices):
    SHORT_TEXT = "short_text", "Short text"
    LONG_TEXT = "long_text", "Long text"
    SINGLE_CHOICE = "single_choice", "Choose one"
    MULTIPLE_CHOICE = "multiple_choice", "Choose any"
    SCALE = "scale", "Scale 0–10"
    DATE = "date", "Date"
    YES_NO = "yes_no", "Yes or no, with details"
    SYMPTOMS = "symptoms", "Symptom list (severity, since when)"
    MEDICATIONS = "medications", "Medications and supplements (name, dose, how often)"


# The FHIR item type each kind becomes (journeys.intake_fhir); the lists are repeating groups.
FHIR_TYPE = {
    QuestionKind.SHORT_TEXT: "string",
    QuestionKind.LONG_TEXT: "text",
    QuestionKind.SINGLE_CHOICE: "choice",
    QuestionKind.MULTIPLE_CHOICE: "choice",
    QuestionKind.SCALE: "integer",
    QuestionKind.DATE: "date",
    QuestionKind.YES_NO: "boolean",
    QuestionKind.SYMPTOMS: "group",
    QuestionKind.MEDICATIONS: "group",
}


class QuestionnaireQuestion(models.Model):
    section = models.ForeignKey(QuestionnaireSection, on_delete=models.CASCADE, related_name="questions")
    link_id = models.SlugField(max_length=60, help_text=LINK_ID_HELP)
    text = models.CharField(max_length=300)
    help_text = models.CharField(max_length=300, blank=True)
    kind = models.CharField(max_length=20, choices=QuestionKind.choices, default=QuestionKind.LONG_TEXT)
    options = models.TextField(blank=True, help_text="For the choices: one option per line.")
    scale_low = models.CharField(max_length=60, blank=True, help_text="Scales: what 0 means.")
    scale_high = models.CharField(max_length=60, blank=True, help_text="Scales: what 10 means.")
    required = models.BooleanField(default=False)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["section", "position", "id"]
        constraints = [models.UniqueConstraint(fields=["section", "link_id"], name="question_link_id_unique")]

    def __str__(self) -> str:
        return self.text

    @property
    def option_list(self) -> list[str]:
        return [line.strip() for line in self.options.splitlines() if line.strip()]

    @property
    def fhir_type(self) -> str:
        return FHIR_TYPE[QuestionKind(self.kind)]


class Agreement(models.Model):
    """A clinic agreement the patient signs at the end of the intake. Editing its wording makes a new
    ``version``; a signature keeps the exact text it was shown."""

    key = models.SlugField(max_length=40, unique=True)
    title = models.CharField(max_length=200)
    body = models.TextField()
    version = models.PositiveSmallIntegerField(default=1, editable=False)
    active = models.BooleanField(default=True, help_text="Untick to stop asking for it.")
    position = models.PositiveSmallIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return f"{self.title} (v{self.version})"


class QuestionnaireResponse(models.Model):
    """One patient's answers to one questionnaire version, through their signed link."""

    class Status(models.TextChoices):
        SENT = "sent", "Sent"
        IN_PROGRESS = "in_progress", "Started"
        COMPLETED = "completed", "Submitted"
        WITHDRAWN = "withdrawn", "Withdrawn"

    FHIR_STATUS = {
        Status.SENT: "in-progress",
        Status.IN_PROGRESS: "in-progress",
        Status.COMPLETED: "completed",
        Status.WITHDRAWN: "stopped",
    }

    patient = models.ForeignKey("patients.Patient", on_delete=models.CASCADE, related_name="intakes")
    journey = models.ForeignKey(
        "journeys.Journey", null=True, blank=True, on_delete=models.SET_NULL, related_name="intakes"
    )
    visit = models.ForeignKey(
        "journeys.Visit", null=True, blank=True, on_delete=models.SET_NULL, related_name="intakes"
    )
    questionnaire = models.ForeignKey(Questionnaire, on_delete=models.PROTECT, related_name="responses")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.SENT)
    sent_at = models.DateTimeField(default=timezone.now)
    closes_at = models.DateTimeField(help_text="The link stops working at this moment.")
    started_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    sections_done = models.JSONField(default=list, blank=True, help_text="Link ids of the sections saved.")
    link_nudge = models.ForeignKey(
        "nudges.Nudge", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    carried_to_blueprint_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-sent_at", "-id"]
        indexes = [models.Index(fields=["patient", "-sent_at"], name="intake_patient_sent")]
        constraints = [
            models.UniqueConstraint(
                fields=["patient"],
                condition=Q(status__in=["sent", "in_progress"]),
                name="intake_one_open_per_patient",
                violation_error_message="This patient already has an intake questionnaire under way.",
            ),
        ]

    def __str__(self) -> str:
        return f"Intake {self.pk} ({self.get_status_display()})"

    @property
    def is_open(self) -> bool:
        return self.status in (self.Status.SENT, self.Status.IN_PROGRESS)

    @property
    def link_closed(self) -> bool:
        return self.closes_at <= timezone.now()

    @property
    def fhir_status(self) -> str:
        return self.FHIR_STATUS[self.Status(self.status)]


class QuestionnaireAnswer(models.Model):
    """The answer to one question, as JSON: a string, an integer, an ISO date, a list of choices,
    ``{"answer": bool, "details": str}``, or a list of rows for the symptom and medication lists."""

    response = models.ForeignKey(QuestionnaireResponse, on_delete=models.CASCADE, related_name="answers")
    question = models.ForeignKey(QuestionnaireQuestion, on_delete=models.PROTECT, related_name="+")
    link_id = models.SlugField(max_length=60)
    value = models.JSONField(null=True, blank=True)
    saved_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["response", "id"]
        constraints = [
            models.UniqueConstraint(fields=["response", "question"], name="answer_one_per_question")
        ]

    def __str__(self) -> str:
        return self.link_id


class AgreementSignature(models.Model):
    """A signed agreement: the exact title and text shown, its version, the typed name, when and from where.
    Never edited."""

    response = models.ForeignKey(QuestionnaireResponse, on_delete=models.CASCADE, related_name="signatures")
    agreement = models.ForeignKey(Agreement, on_delete=models.PROTECT, related_name="signatures")
    agreement_version = models.PositiveSmallIntegerField()
    title = models.CharField(max_length=200)
    text = models.TextField()
    text_sha256 = models.CharField(max_length=64)
    signed_name = models.CharField(max_length=200)
    signed_at = models.DateTimeField(default=timezone.now)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["response", "id"]
        constraints = [
            models.UniqueConstraint(fields=["response", "agreement"], name="signature_one_per_agreement")
        ]

    def __str__(self) -> str:
        return f"{self.title} v{self.agreement_version}, signed {self.signed_at:%Y-%m-%d}"
