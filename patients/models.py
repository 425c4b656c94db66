import unicodedata
import zoneinfo
from datetime import time

from django.conf import settings
from django.db import models
from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone

from accounts.links import url_for_id

from .validation import (
    ALREADY_ON_THE_TEAM,
    COLLEAGUE_NEEDED,
    ONE_LEAD,
    QUIET_HOURS_EMPTY,
    SPECIALIST_NEEDS_A_NAME,
    validate_e164,
    validate_time_zone,
)


def fold(text: str) -> str:
    """Lower-case and strip accents, so that 'José' and 'jose' match: the form search_text is kept in."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def digits(text: str) -> str:
    return "".join(c for c in text or "" if c.isdigit())


PHONE_CHARACTERS = set("0123456789+-(). ")


def default_time_zone() -> str:
    return settings.TIME_ZONE


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    SMS = "sms", "SMS"


class CheckinHour(models.IntegerChoices):
    """When in the patient's own day their check-in request goes: a named part of the day or any hour."""

    MORNING = 8, "Morning (08:00)"
    MID_MORNING = 10, "Mid-morning (10:00, the clinic's usual)"
    MIDDAY = 12, "Midday (12:00)"
    EVENING = 18, "Evening (18:00)"


# Words the spreadsheet import (and people) use for the named hours.
CHECKIN_HOUR_WORDS = {"morning": 8, "mid-morning": 10, "midday": 12, "noon": 12, "evening": 18}


def checkin_hour_choices() -> list[tuple[int, str]]:
    """Every hour of the day, the named ones with their name."""
    named = dict(CheckinHour.choices)
    return [(hour, named.get(hour, f"{hour:02d}:00")) for hour in range(24)]


def search_terms(query: str) -> list[str]:
    """What ``PatientQuerySet.matching`` looks for in ``search_text``: a phone number's digits (a query of at
    least three digits and phone punctuation only), else each word folded."""
    query = query.strip()
    if len(digits(query)) >= 3 and set(query) <= PHONE_CHARACTERS:
        return [digits(query)]
    return [fold(term) for term in query.split()]


class PatientQuerySet(models.QuerySet):
    def active(self):
        return self.filter(archived=False)

    def matching(self, query: str) -> "PatientQuerySet":
        """Every word must appear in the name or email (case- and accent-insensitive); a phone number
        written in any style matches by its digits."""
        return self.containing(search_terms(query))

    def containing(self, terms: list[str]) -> "PatientQuerySet":
        """Patients whose ``search_text`` holds every one of ``terms`` (``search_terms`` of a query)."""
        qs = self
        for term in terms:
            qs = qs.filter(search_text__contains=term)
        return qs

    def with_consent(self):
        """Annotate ``<channel>_consent_granted`` and ``<channel>_consent_address`` from the latest row."""
        annotations = {}
        for channel in Channel.values:
            latest = ConsentEvent.objects.filter(patient=OuterRef("pk"), channel=channel).order_by(
                "-at", "-id"
            )
            annotations[f"{channel}_consent_granted"] = Subquery(latest.values("granted")[:1])
            annotations[f"{channel}_consent_address"] = Subquery(latest.values("address")[:1])
        return self.annotate(**annotations)

    def with_lead(self):
        # Unsorted: one current lead a patient (``careteam_one_current_lead``); the model's order sorted each.
        lead = (
            CareTeamMember.objects.current()
            .filter(patient=OuterRef("pk"), role=CareTeamMember.Role.LEAD)
            .order_by()
        )
        return self.annotate(
            lead_user_id=Subquery(lead.values("user_id")[:1]),
            lead_name=Subquery(lead.values("user__display_name")[:1]),
        )


def display_name_of(first_name: str, last_name: str, preferred_name: str) -> str:
    """``Patient.display_name`` of these names: for a row read as values, not as a patient."""
    return f"{preferred_name or first_name} {last_name}".strip()


class Patient(models.Model):
    """A person in the clinic's care, from first inquiry to advocate."""

    lead_name: str | None  # not a column: PatientQuerySet.with_lead() annotates it (and selectors may set it)
    referral_count: int  # not a column: patients.selectors.advocates sets it

    class Source(models.TextChoices):
        REFERRAL = "referral", "Referral"
        WEBSITE = "website", "Website"
        EVENT = "event", "Event"
        SOCIAL = "social", "Social media"
        OTHER = "other", "Other"

    first_name = models.CharField("legal first name", max_length=100)
    last_name = models.CharField("legal last name", max_length=100)
    preferred_name = models.CharField(
        max_length=100, blank=True, help_text="What the patient likes to be called."
    )
    pronouns = models.CharField(max_length=40, blank=True)
    date_of_birth = models.DateField(null=True, blank=True)
    email = models.EmailField(blank=True, db_index=True)
    phone = models.CharField(
        "mobile phone",
        max_length=20,
        blank=True,
        db_index=True,
        validators=[validate_e164],
        help_text="Stored in international (E.164) form.",
    )
    time_zone = models.CharField(max_length=64, default=default_time_zone, validators=[validate_time_zone])
    preferred_channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.EMAIL)
    quiet_hours_start = models.TimeField(default=time(20, 0), help_text="No messages from this local time…")
    quiet_hours_end = models.TimeField(default=time(8, 0), help_text="…until this local time.")
    checkin_hour = models.PositiveSmallIntegerField(
        "check-in requests at",
        choices=checkin_hour_choices,
        default=CheckinHour.MID_MORNING,
        help_text="The hour of the patient's own day their weekly check-in request goes out "
        "(later if it falls in their quiet hours).",
    )
    unsubscribed_at = models.DateTimeField(
        null=True, blank=True, help_text="Set when the patient opted out of all messages."
    )
    source = models.CharField(max_length=20, choices=Source.choices, default=Source.OTHER)
    referred_by = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="referrals"
    )
    archived = models.BooleanField(default=False, db_index=True)
    # Set by ``patients.services`` when the patient gets a lead, which is changed but never removed: with the
    # index below, Today finds the few patients without one without reading every patient's care team.
    has_lead = models.BooleanField(default=False, editable=False)
    search_text = models.TextField(editable=False, default="")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = PatientQuerySet.as_manager()

    # What staff edit on the patient form and what the patient services write (consent, care team and
    # archive have their own services).
    EDITABLE_FIELDS = (
        "first_name",
        "last_name",
        "preferred_name",
        "pronouns",
        "date_of_birth",
        "email",
        "phone",
        "time_zone",
        "preferred_channel",
        "quiet_hours_start",
        "quiet_hours_end",
        "checkin_hour",
        "source",
        "referred_by",
    )

    class Meta:
        ordering = ["last_name", "first_name", "id"]
        indexes = [
            # The patient list's default order, over the active patients it shows.
            models.Index(
                fields=["last_name", "first_name", "id"],
                condition=Q(archived=False),
                name="patient_active_by_name",
            ),
            # …and its "Added" column, newest or oldest first.
            models.Index(
                fields=["created_at", "id"], condition=Q(archived=False), name="patient_active_by_added"
            ),
            # Today's "without a lead practitioner": only the patients waiting for one.
            models.Index(
                fields=["created_at", "id"],
                condition=Q(archived=False, has_lead=False),
                name="patient_active_without_lead",
            ),
            # The name order over every patient, archived ones too: admin's changelist, which without it sorted
            # the whole table for each page of 100 (105 ms, a seq scan and a top-N sort, at 100,000 patients).
            models.Index(fields=["last_name", "first_name", "id"], name="patient_by_name"),
            # The archived patients' ids alone: "active" tested from another table's side (the list's stage
            # count) as "not one of these few", read from this index without touching the table.
            models.Index(fields=["id"], condition=Q(archived=True), name="patient_archived_ids"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(quiet_hours_start=models.F("quiet_hours_end")),
                name="patient_quiet_hours_not_empty",
                violation_error_code="quiet_hours_empty",
                violation_error_message=QUIET_HOURS_EMPTY,
            ),
            models.CheckConstraint(
                condition=~Q(referred_by=models.F("id")), name="patient_not_referred_by_self"
            ),
        ]

    def __str__(self) -> str:
        return self.display_name

    def save(self, *args, **kwargs):
        # A derived search column, not business logic: kept here so that admin, import and
        # services can never forget it.
        self.search_text = self.build_search_text()
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], "search_text"}
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        # The patient page is the dashboard's: it composes every app's panels about the patient.
        return url_for_id("dashboard:patient", self.pk)

    def section_url(self, tab: str, panel: str = "") -> str:
        """One tab of the patient page (``?tab=``), at one of its panels: where a form in that panel returns."""
        return f"{self.get_absolute_url()}?tab={tab}#panel-{panel or tab}"

    @property
    def display_name(self) -> str:
        return display_name_of(self.first_name, self.last_name, self.preferred_name)

    @property
    def legal_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)

    def in_quiet_hours(self, local: time) -> bool:
        """Whether a local wall-clock time falls in the quiet hours (which may wrap midnight)."""
        start, end = self.quiet_hours_start, self.quiet_hours_end
        if start < end:
            return start <= local < end
        return local >= start or local < end

    def build_search_text(self) -> str:
        parts = [self.first_name, self.last_name, self.preferred_name, self.email]
        return " ".join(fold(p) for p in parts if p) + (f" {digits(self.phone)}" if self.phone else "")


class ConsentEvent(models.Model):
    """One grant or withdrawal of consent to a channel. Current consent is the latest row; rows never change."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="consent_events")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    granted = models.BooleanField()
    address = models.CharField(
        max_length=254, help_text="The email address or phone number the consent covered."
    )
    at = models.DateTimeField(default=timezone.now)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    via = models.CharField(
        max_length=60, help_text="How it was given or taken back: form, import, unsubscribe link, SMS STOP…"
    )
    note = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["patient", "channel", "-at"], name="consent_latest")]

    def __str__(self) -> str:
        verb = "granted" if self.granted else "withdrew"
        return f"{self.patient_id}: {verb} {self.get_channel_display()} consent for {self.address}"


class CareTeamQuerySet(models.QuerySet):
    def current(self):
        return self.filter(ended_at__isnull=True)


class CareTeamMember(models.Model):
    """Someone on a patient's care team; the ``lead`` is the Chief Strategist. Ended rows keep the history."""

    class Role(models.TextChoices):
        LEAD = "lead", "Lead practitioner"
        PRACTITIONER = "practitioner", "Practitioner"
        HEALTH_COACH = "health_coach", "Health coach"
        SPECIALIST = "specialist", "External specialist"

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="care_team")
    role = models.CharField(max_length=20, choices=Role.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="care_teams"
    )
    external_name = models.CharField(max_length=120, blank=True)
    external_practice = models.CharField(max_length=120, blank=True)
    external_contact = models.CharField(max_length=200, blank=True, help_text="Phone, email or address.")
    started_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    note = models.CharField(max_length=255, blank=True)

    objects = CareTeamQuerySet.as_manager()

    class Meta:
        ordering = ["ended_at", "role", "started_at"]
        indexes = [
            # A practitioner's patients (Today's "my" lists): read from the index alone, not a row each.
            models.Index(
                fields=["user", "patient"],
                condition=Q(ended_at__isnull=True),
                name="careteam_current_by_user",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["patient"],
                condition=Q(role="lead", ended_at__isnull=True),
                name="careteam_one_current_lead",
                violation_error_message=ONE_LEAD,
            ),
            models.UniqueConstraint(
                fields=["patient", "user"],
                condition=Q(ended_at__isnull=True, user__isnull=False),
                name="careteam_user_once_per_team",
                violation_error_message=ALREADY_ON_THE_TEAM,
            ),
            models.CheckConstraint(
                condition=Q(role="specialist") | Q(user__isnull=False),
                name="careteam_member_is_a_user",
                violation_error_code="colleague_missing",
                violation_error_message=COLLEAGUE_NEEDED,
            ),
            models.CheckConstraint(
                condition=Q(user__isnull=False) | ~Q(external_name=""),
                name="careteam_specialist_has_a_name",
                violation_error_code="specialist_unnamed",
                violation_error_message=SPECIALIST_NEEDS_A_NAME,
            ),
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | Q(ended_at__gte=models.F("started_at")),
                name="careteam_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_role_display()})"

    @property
    def name(self) -> str:
        return str(self.user) if self.user_id else self.external_name


class ConsentRequest(models.Model):
    """Someone asked on a public form that we write to a patient we already know. It is not consent: only the
    patient's own confirmation — the link emailed to that address, or a YES texted back from that number to
    the one text that asked — records consent, and a withdrawal made after the request was made stands."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="consent_requests")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    address = models.CharField(max_length=254, help_text="The email address or phone number it asked about.")
    via = models.CharField(max_length=60, help_text="Where the request came from, e.g. inquiry form.")
    requested_at = models.DateTimeField(default=timezone.now)
    confirmation_sent_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the patient was asked to confirm (the link emailed, or the text asking for YES); "
        "empty when nobody was asked.",
    )
    confirmed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        indexes = [
            models.Index(fields=["patient", "channel", "-requested_at"], name="consent_request_latest")
        ]

    def __str__(self) -> str:
        return f"{self.patient_id}: asked for {self.get_channel_display()} consent for {self.address}"


class MarketingConsentEvent(models.Model):
    """One grant or withdrawal of consent to marketing-type messages (a referral or testimonial ask, a thank-you
    for a referral). Separate from consent to be written to about one's care; the latest row is current."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="marketing_consent_events")
    granted = models.BooleanField()
    at = models.DateTimeField(default=timezone.now)
    via = models.CharField(max_length=60, help_text="How it was given or taken back.")
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["patient", "-at"], name="marketing_consent_latest")]

    def __str__(self) -> str:
        return f"{self.patient_id}: {'granted' if self.granted else 'withdrew'} marketing consent"


class Testimonial(models.Model):
    """The patient's own words about their care, with their consent to show them where they chose: its own
    consent, withdrawable at any time (a withdrawn testimonial is kept for the record and shown nowhere)."""

    class Place(models.TextChoices):
        WEBSITE = "website", "The clinic's website"
        PRINT = "print", "Printed leaflets in the clinic"
        SOCIAL = "social", "The clinic's social media"
        TALKS = "talks", "Talks and events"

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="testimonials")
    words = models.TextField(help_text="Exactly what the patient said, in their words.")
    places = models.JSONField(default=list, help_text="Where the patient agreed it may be shown.")
    show_name = models.CharField(
        max_length=100,
        blank=True,
        help_text="How the patient wants to be named (“Hannah K.”); empty: anonymous.",
    )
    consented_at = models.DateTimeField(default=timezone.now)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdrawn_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-consented_at", "-id"]
        indexes = [models.Index(fields=["patient", "-consented_at"], name="testimonial_patient_recent")]

    def __str__(self) -> str:
        return f"Testimonial of patient {self.patient_id} ({self.consented_at:%Y-%m-%d})"

    @property
    def shown(self) -> bool:
        return self.withdrawn_at is None

    def place_labels(self) -> list[str]:
        labels = dict(self.Place.choices)
        return [labels.get(place, place) for place in self.places]


class AdvocateLink(models.Model):
    """An advocate's personal referral code: random, holding nothing about the patient; the link carries it
    signed (``patients.tokens.referral_token``) so a typed or altered code is refused."""

    patient = models.OneToOneField(Patient, on_delete=models.CASCADE, related_name="advocate_link")
    code = models.CharField(max_length=16, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Referral link of patient {self.patient_id}"
