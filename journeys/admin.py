"""Admin for programs and care-plan templates (kept here by admins), and a careful view of the clinical record.

Journeys move only through ``journeys.services.stages`` (so every move leaves its ``StageChange``); signed
notes and published care plans never change. Admin shows them and leaves them as they are. Every admin read
or write of a patient's record also lands in the clinic's audit trail.
"""

from django.contrib import admin, messages

from accounts.admin import LargeTableMixin, NoAddMixin, PatientAuditMixin, ReadOnlyMixin
from patients.selectors import lead_candidates

from .models import (
    Blueprint,
    BlueprintItem,
    BlueprintTemplate,
    BlueprintTemplateItem,
    CheckIn,
    Inquiry,
    Journey,
    Program,
    StageChange,
    TimeOff,
    Visit,
    VisitNote,
    WorkingHours,
)

PATIENT_SEARCH = ("first_name", "last_name", "preferred_name", "email")


def patient_search(prefix: str) -> tuple[str, ...]:
    return tuple(f"{prefix}{field}" for field in PATIENT_SEARCH)


# ---------------------------------------------------------------------------------- what admins keep


@admin.register(Program)
class ProgramAdmin(admin.ModelAdmin):
    list_display = ("name", "weeks", "checkin_every_days", "fee", "active")
    list_editable = ("active",)
    list_filter = ("active", "weeks", "checkin_every_days")
    list_select_related = False  # a program refers to nothing else
    search_fields = ("name", "description")


class PractitionerFieldMixin:
    """Only people who see patients are offered as the practitioner."""

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "practitioner":
            kwargs["queryset"] = lead_candidates().order_by("display_name", "username")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)  # type: ignore[misc]


@admin.register(WorkingHours)
class WorkingHoursAdmin(PractitionerFieldMixin, admin.ModelAdmin):
    """A practitioner's week, a row per stretch in clinic time (Monday 09:00–12:00, Monday 13:00–17:00, …):
    the schedule offers free slots inside them."""

    list_display = ("practitioner", "weekday", "starts", "ends")
    list_editable = ("starts", "ends")
    list_filter = ("practitioner", "weekday")
    list_select_related = ("practitioner",)
    ordering = ("practitioner__display_name", "weekday", "starts")


@admin.register(TimeOff)
class TimeOffAdmin(PractitionerFieldMixin, admin.ModelAdmin):
    """Holidays, courses, half days: no slot is offered and no visit can be booked in them."""

    list_display = ("practitioner", "starts_at", "ends_at", "reason")
    list_filter = ("practitioner",)
    list_select_related = ("practitioner",)
    date_hierarchy = "starts_at"
    search_fields = ("reason",)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        booked = (
            Visit.objects.blocking()
            .overlapping(obj.starts_at, obj.ends_at)
            .filter(practitioner_id=obj.practitioner_id)
            .count()
        )
        if booked:
            messages.warning(
                request,
                f"{booked} booked visit{'s' if booked != 1 else ''} of {obj.practitioner} fall{'' if booked != 1 else 's'} "
                "in this time off: move or cancel them from the schedule.",
            )


class BlueprintTemplateItemInline(admin.TabularInline):
    model = BlueprintTemplateItem
    extra = 1
    fields = ("position", "kind", "title", "dose", "frequency", "instructions")


@admin.register(BlueprintTemplate)
class BlueprintTemplateAdmin(admin.ModelAdmin):
    """A starting point for common plans; practitioners copy it into a journey's draft and adapt it there."""

    list_display = ("name", "program")
    list_filter = ("program",)
    list_select_related = ("program",)
    search_fields = ("name", "summary", "items__title")
    inlines = (BlueprintTemplateItemInline,)


# ------------------------------------------------------------------------------------------ journeys


class StageChangeInline(ReadOnlyMixin, admin.TabularInline):
    model = StageChange
    extra = 0
    can_delete = False
    fields = ("at", "from_stage", "to_stage", "by", "reason", "note")
    readonly_fields = fields
    verbose_name_plural = "stage changes (newest first; move a journey from the pipeline)"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("by").order_by("-at", "-id")


@admin.register(Journey)
class JourneyAdmin(NoAddMixin, PatientAuditMixin, admin.ModelAdmin):
    """A journey starts on the patient's page or from an inquiry and moves on the pipeline, never here."""

    list_display = ("__str__", "patient", "program", "stage", "stage_entered_at", "started_at", "ended_at")
    list_filter = ("stage", "program", ("ended_at", admin.EmptyFieldListFilter))
    list_select_related = ("patient", "program")
    search_fields = patient_search("patient__")
    search_help_text = "Patient's name or email."
    date_hierarchy = "started_at"
    fields = ("patient", "program", "stage", "stage_entered_at", "started_at", "ended_at")
    readonly_fields = ("patient", "stage", "stage_entered_at", "started_at", "ended_at")
    inlines = (StageChangeInline,)
    audit_label = "journey in admin"


@admin.register(StageChange)
class StageChangeAdmin(LargeTableMixin, ReadOnlyMixin, PatientAuditMixin, admin.ModelAdmin):
    list_display = ("at", "journey", "patient", "from_stage", "to_stage", "by", "reason")
    list_filter = ("to_stage", "from_stage", "reason", "at")
    list_select_related = ("journey__patient", "by")
    search_fields = (*patient_search("journey__patient__"), "note")
    search_help_text = "Patient's name or email, or the note on the move."
    readonly_fields = [f.name for f in StageChange._meta.fields]
    patient_id_path = "journey.patient_id"
    audit_label = "stage change in admin"

    @admin.display(description="patient", ordering="journey__patient__last_name")
    def patient(self, obj):
        return obj.journey.patient


@admin.register(Inquiry)
class InquiryAdmin(ReadOnlyMixin, PatientAuditMixin, admin.ModelAdmin):
    """What the public form received, kept as the prospect wrote it."""

    list_display = ("received_at", "first_name", "last_name", "email", "phone", "how_heard", "patient")
    list_filter = ("how_heard", "received_at", "matched_existing", "consent_email", "consent_sms")
    list_select_related = ("patient", "journey")
    search_fields = ("first_name", "last_name", "email", "phone", *patient_search("patient__"))
    search_help_text = "Name, email or phone as the prospect wrote them, or the patient's."
    date_hierarchy = "received_at"
    readonly_fields = [f.name for f in Inquiry._meta.fields]
    audit_label = "inquiry in admin"


# ------------------------------------------------------------------------------------ visits and notes


@admin.register(Visit)
class VisitAdmin(PatientAuditMixin, admin.ModelAdmin):
    list_display = ("starts_at", "patient", "kind", "practitioner", "duration_minutes", "status")
    list_filter = ("status", "kind", "practitioner")
    list_select_related = ("patient", "practitioner")
    search_fields = (*patient_search("patient__"), "practitioner__display_name", "location")
    search_help_text = "Patient's name or email, the practitioner, or the place."
    date_hierarchy = "starts_at"
    autocomplete_fields = ("patient", "journey", "practitioner")
    readonly_fields = ("ends_at", "created_at", "created_by")
    audit_label = "visit in admin"

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(VisitNote)
class VisitNoteAdmin(NoAddMixin, PatientAuditMixin, admin.ModelAdmin):
    """Notes are written and signed on the visit's page. A signed note never changes: add an addendum there."""

    list_display = ("created_at", "title", "patient", "visit", "author", "signed_at")
    list_filter = (("signed_at", admin.EmptyFieldListFilter), "visit__kind", "author")
    list_select_related = ("visit__patient", "author")
    search_fields = (*patient_search("visit__patient__"), "title")
    search_help_text = "Patient's name or email, or the note's title."
    date_hierarchy = "created_at"
    fields = ("visit", "author", "title", "body", "sections", "addendum_to", "created_at", "signed_at")
    readonly_fields = ("visit", "author", "addendum_to", "created_at", "signed_at")
    patient_id_path = "visit.patient_id"
    audit_label = "visit note in admin"

    @admin.display(description="patient", ordering="visit__patient__last_name")
    def patient(self, obj):
        return obj.visit.patient

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.signed_at is not None:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.signed_at is not None:
            return False
        return super().has_delete_permission(request, obj)


# ---------------------------------------------------------------------------------------- care plans


class BlueprintItemInline(admin.TabularInline):
    model = BlueprintItem
    extra = 0
    fields = (
        "position",
        "kind",
        "title",
        "dose",
        "frequency",
        "starts_on",
        "ends_on",
        "status",
        "instructions",
    )

    def _editable(self, obj) -> bool:
        return obj is not None and obj.status == Blueprint.Status.DRAFT

    def has_add_permission(self, request, obj=None):
        return self._editable(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._editable(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._editable(obj) and super().has_delete_permission(request, obj)


@admin.register(Blueprint)
class BlueprintAdmin(NoAddMixin, PatientAuditMixin, admin.ModelAdmin):
    """Care plans are built and published in the blueprint builder; a published version never changes."""

    list_display = ("__str__", "journey", "patient", "version", "status", "published_at", "published_by")
    list_filter = ("status",)
    list_select_related = ("journey__patient", "published_by")
    search_fields = (*patient_search("journey__patient__"), "summary")
    search_help_text = "Patient's name or email, or words in the plan's summary."
    fields = (
        "journey",
        "version",
        "status",
        "summary",
        "revision_reason",
        ("created_at", "created_by"),
        ("published_at", "published_by"),
    )
    readonly_fields = (
        "journey",
        "version",
        "status",
        "created_at",
        "created_by",
        "published_at",
        "published_by",
    )
    inlines = (BlueprintItemInline,)
    patient_id_path = "journey.patient_id"
    audit_label = "care plan in admin"

    @admin.display(description="patient", ordering="journey__patient__last_name")
    def patient(self, obj):
        return obj.journey.patient

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.status != Blueprint.Status.DRAFT:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.status != Blueprint.Status.DRAFT:
            return False
        return super().has_delete_permission(request, obj)


# ------------------------------------------------------------------------------------------ check-ins


@admin.register(CheckIn)
class CheckInAdmin(LargeTableMixin, ReadOnlyMixin, PatientAuditMixin, admin.ModelAdmin):
    """The check-in schedule, as the services made it; it changes when the journey moves or the patient answers."""

    list_display = ("due_on", "journey", "patient", "status", "closes_at", "answered_at")
    list_filter = ("status", "due_on")
    list_select_related = ("journey__patient",)
    search_fields = patient_search("journey__patient__")
    search_help_text = "Patient's name or email."
    readonly_fields = [f.name for f in CheckIn._meta.fields]
    patient_id_path = "journey.patient_id"
    audit_label = "check-in in admin"

    @admin.display(description="patient", ordering="journey__patient__last_name")
    def patient(self, obj):
        return obj.journey.patient


from . import intake_admin  # noqa: E402, F401 — the questionnaire and agreements' admin, in its own module
