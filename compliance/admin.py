"""Admin for the clinic's thresholds (one row), and a read-only, audited view of answers, logs, alerts and
course corrections: those change only through the check-in page, detection and the alert page."""

from django.contrib import admin
from django.shortcuts import redirect
from django.urls import reverse

from accounts.admin import LargeTableMixin, PatientAuditMixin, ReadOnlyMixin
from journeys.admin import patient_search

from .models import Alert, CheckInAnswer, ClinicSettings, ComplianceLog, CourseCorrection


@admin.register(ClinicSettings)
class ClinicSettingsAdmin(admin.ModelAdmin):
    """One row: the list goes straight to it; it cannot be added twice or deleted."""

    fieldsets = (
        (
            "When a patient needs attention",
            {
                "fields": (
                    "adherence_threshold",
                    "low_margin_points",
                    "min_reports",
                    "drop_points",
                    "hard_week_points",
                    "missed_in_a_row",
                    "answer_wait_days",
                    "outreach_every_days",
                )
            },
        ),
        ("Adherence", {"fields": ("window_days",)}),
        ("Check-in answers", {"fields": ("amend_hours",)}),
        ("Record", {"fields": ("updated_at",)}),
    )
    readonly_fields = ("updated_at",)

    def has_add_permission(self, request):
        return not ClinicSettings.objects.exists() and super().has_add_permission(request)

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        obj.pk = 1  # the one row its constraint allows
        super().save_model(request, obj, form, change)

    def changelist_view(self, request, extra_context=None):
        row = ClinicSettings.objects.filter(pk=1).first()
        if row is None:  # a flushed database: saving the defaults on the add page makes the row
            return redirect(reverse("admin:compliance_clinicsettings_add"))
        return redirect(reverse("admin:compliance_clinicsettings_change", args=[row.pk]))


class OpenFilter(admin.SimpleListFilter):
    title = "open or answered"
    parameter_name = "open"

    def lookups(self, request, model_admin):
        return (("yes", "Open"), ("no", "Answered"))

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(resolved_at__isnull=True)
        if self.value() == "no":
            return queryset.filter(resolved_at__isnull=False)
        return queryset


class CourseCorrectionInline(ReadOnlyMixin, admin.TabularInline):
    model = CourseCorrection
    fields = ("created_at", "practitioner", "change", "note", "blueprint")
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(Alert)
class AlertAdmin(ReadOnlyMixin, PatientAuditMixin, admin.ModelAdmin):
    """Alerts open by detection and close by a course correction on the alert page."""

    list_display = ("opened_at", "patient", "reason", "detail", "resolved_at", "resolved_by")
    list_filter = (OpenFilter, "reason", "opened_at")
    list_select_related = ("patient", "resolved_by")
    search_fields = patient_search("patient__")
    search_help_text = "Patient's name or email."
    date_hierarchy = "opened_at"
    readonly_fields = [f.name for f in Alert._meta.fields]
    inlines = (CourseCorrectionInline,)
    audit_label = "alert in admin"


@admin.register(CourseCorrection)
class CourseCorrectionAdmin(ReadOnlyMixin, PatientAuditMixin, admin.ModelAdmin):
    list_display = ("created_at", "patient", "change", "practitioner", "blueprint")
    list_filter = ("change", "created_at")
    list_select_related = ("alert__patient", "practitioner", "blueprint")
    search_fields = patient_search("alert__patient__")
    search_help_text = "Patient's name or email."
    readonly_fields = [f.name for f in CourseCorrection._meta.fields]
    patient_id_path = "alert.patient_id"
    audit_label = "course correction in admin"

    @admin.display(description="patient", ordering="alert__patient__last_name")
    def patient(self, obj):
        return obj.alert.patient


@admin.register(CheckInAnswer)
class CheckInAnswerAdmin(LargeTableMixin, ReadOnlyMixin, PatientAuditMixin, admin.ModelAdmin):
    """A patient's answers, in their own words: read here, never edited."""

    list_display = ("answered_at", "patient", "checkin", "via", "amended_at")
    list_filter = ("via", "answered_at")
    list_select_related = ("patient", "checkin")
    search_fields = patient_search("patient__")
    search_help_text = "Patient's name or email."
    readonly_fields = [f.name for f in CheckInAnswer._meta.fields]
    audit_label = "check-in answer in admin"


@admin.register(ComplianceLog)
class ComplianceLogAdmin(LargeTableMixin, ReadOnlyMixin, PatientAuditMixin, admin.ModelAdmin):
    list_display = ("checkin", "patient", "item", "status", "paused_reason")
    list_filter = ("status",)
    list_select_related = ("answer__patient", "checkin", "item")
    search_fields = patient_search("answer__patient__")
    search_help_text = "Patient's name or email."
    readonly_fields = [f.name for f in ComplianceLog._meta.fields]
    patient_id_path = "answer.patient_id"
    audit_label = "compliance log in admin"

    @admin.display(description="patient", ordering="answer__patient__last_name")
    def patient(self, obj):
        return obj.answer.patient
