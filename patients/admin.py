from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path

from accounts.admin import LargeTableMixin, PatientAuditMixin, ReadOnlyMixin
from accounts.audit import record_access
from accounts.models import AccessEvent
from accounts.reports import write_access_report

from .importing import COLUMNS, MAX_BYTES, patients_import
from .models import CareTeamMember, ConsentEvent, Patient
from .services import patient_has_lead_sync
from .validation import format_phone, normalize_phone, time_zone_names


class ConsentEventInline(ReadOnlyMixin, admin.TabularInline):
    """Consent history is only ever appended to, by the services: admin shows it and changes nothing."""

    model = ConsentEvent
    extra = 0
    can_delete = False
    fields = ("at", "channel", "granted", "address", "via", "recorded_by", "note")
    readonly_fields = fields
    verbose_name_plural = "consent history (newest first; record changes on the patient's page)"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("recorded_by").order_by("-at", "-id")


class CareTeamMemberInline(admin.TabularInline):
    model = CareTeamMember
    fk_name = "patient"
    extra = 0
    can_delete = False  # end a membership (ended at) instead: ended rows are the team's history
    fields = (
        "role",
        "user",
        "external_name",
        "external_practice",
        "external_contact",
        "started_at",
        "ended_at",
    )
    autocomplete_fields = ("user",)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user")


class PatientAdminForm(forms.ModelForm):
    time_zone = forms.ChoiceField(choices=lambda: [(name, name) for name in time_zone_names()])

    class Meta:
        model = Patient
        fields = "__all__"  # noqa: DJ007 — admin shows every editable field
        help_texts = {"phone": "Any style; without a +country code the clinic's country is assumed."}

    def clean_phone(self):
        return normalize_phone(self.cleaned_data.get("phone", ""))

    def clean_email(self):
        return (self.cleaned_data.get("email") or "").strip().lower()


class ImportForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text=f"UTF-8 (“CSV UTF-8” in Excel), at most {MAX_BYTES // (1024 * 1024)} MB, header row first.",
    )
    dry_run = forms.BooleanField(required=False, label="Dry run: check the file and save nothing")
    skip_invalid = forms.BooleanField(
        required=False, label="Skip invalid rows: import the valid rows even when others have problems"
    )


@admin.register(Patient)
class PatientAdmin(LargeTableMixin, PatientAuditMixin, admin.ModelAdmin):
    form = PatientAdminForm
    change_list_template = "admin/patients/patient/change_list.html"
    change_form_template = "admin/patients/patient/change_form.html"
    import_template = "admin/patients/patient/import.html"
    list_display = (
        "display_name",
        "email",
        "phone_number",
        "preferred_channel",
        "source",
        "lead",
        "referred_by",
        "archived",
        "created_at",
    )
    list_filter = (
        "archived",
        "source",
        "preferred_channel",
        ("unsubscribed_at", admin.EmptyFieldListFilter),
        "created_at",
    )
    list_select_related = ("referred_by",)
    search_fields = ("search_text",)  # searched with Patient.objects.matching, like the clinic's patient list
    search_help_text = "Name (accents optional), email, or phone number in any style."
    autocomplete_fields = ("referred_by",)
    readonly_fields = ("unsubscribed_at", "created_at", "updated_at", "created_by")
    inlines = (CareTeamMemberInline, ConsentEventInline)
    patient_id_path = "pk"
    fieldsets = (
        (
            "Who they are",
            {"fields": ("first_name", "last_name", "preferred_name", "pronouns", "date_of_birth")},
        ),
        (
            "How to reach them",
            {
                "fields": (
                    "email",
                    "phone",
                    "preferred_channel",
                    "time_zone",
                    ("quiet_hours_start", "quiet_hours_end"),
                    "unsubscribed_at",
                )
            },
        ),
        ("How they found us", {"fields": ("source", "referred_by")}),
        ("Record", {"fields": ("archived", "created_at", "updated_at", "created_by")}),
    )

    def get_queryset(self, request):
        return super().get_queryset(request).with_lead()

    def get_search_results(self, request, queryset, search_term):
        if not search_term.strip():
            return queryset, False
        return queryset.matching(search_term), False

    @admin.display(description="name", ordering="last_name")
    def display_name(self, obj):
        return obj.display_name

    @admin.display(description="mobile phone", ordering="phone")
    def phone_number(self, obj):
        return format_phone(obj.phone)

    @admin.display(description="lead practitioner", ordering="lead_name")
    def lead(self, obj):
        return obj.lead_name or "—"

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def save_formset(self, request, form, formset, change):
        for instance in formset.save(commit=False):
            if isinstance(instance, CareTeamMember) and instance.pk is None:
                instance.added_by = request.user
            instance.save()
            record_access(
                action=AccessEvent.Action.UPDATE,
                patient_id=form.instance.pk,
                obj=instance,
                detail=f"in admin: care team {instance}",
            )
            if isinstance(instance, CareTeamMember):
                patient_has_lead_sync(patient_id=instance.patient_id)
        formset.save_m2m()

    def get_urls(self):
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path("import/", self.admin_site.admin_view(self.import_view), name=f"{prefix}_import"),
            path(
                "<path:object_id>/access-report/",
                self.admin_site.admin_view(self.access_report_view),
                name=f"{prefix}_access_report",
            ),
            *super().get_urls(),
        ]

    def access_report_view(self, request, object_id):
        """The patient's access report as CSV: who read or changed their record, when, from where."""
        patient = self.get_object(request, object_id)
        if patient is None:
            raise Http404("No patient matches the given query.")
        if not self.has_view_permission(request, patient):
            raise PermissionDenied
        record_access(
            action=AccessEvent.Action.EXPORT,
            patient_id=patient.pk,
            obj=patient,
            detail="access report (CSV) in admin",
        )
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="access-report-patient-{patient.pk}.csv"'
        response["Cache-Control"] = "no-store"
        write_access_report(patient_id=patient.pk, out=response)
        return response

    def import_view(self, request):
        """Upload a CSV file of patients: check it (dry run), import it all, or import only its valid rows."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        report = None
        if request.method == "POST":
            form = ImportForm(request.POST, request.FILES)
            if form.is_valid():
                report = patients_import(
                    file_or_text=form.cleaned_data["file"],
                    actor=request.user,
                    dry_run=form.cleaned_data["dry_run"],
                    skip_invalid=form.cleaned_data["skip_invalid"],
                )
        else:
            form = ImportForm(initial={"dry_run": True})
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Import patients from a spreadsheet",
            "form": form,
            "report": report,
            "columns": COLUMNS,
        }
        return TemplateResponse(request, self.import_template, context)


@admin.register(ConsentEvent)
class ConsentEventAdmin(ReadOnlyMixin, PatientAuditMixin, admin.ModelAdmin):
    """Every grant and withdrawal of consent, as recorded by the services. Read-only."""

    list_display = ("at", "patient", "channel", "granted", "address", "via", "recorded_by")
    list_filter = ("channel", "granted", "via")
    list_select_related = ("patient", "recorded_by")
    search_fields = ("patient__first_name", "patient__last_name", "patient__email", "address", "via", "note")
    search_help_text = "Patient's name or email, the address the consent covered, or how it was given."
    date_hierarchy = "at"
    readonly_fields = [f.name for f in ConsentEvent._meta.fields]
    audit_label = "consent history in admin"


@admin.register(CareTeamMember)
class CareTeamMemberAdmin(PatientAuditMixin, admin.ModelAdmin):
    list_display = ("patient", "role", "name", "started_at", "ended_at", "added_by")
    list_filter = ("role", ("ended_at", admin.EmptyFieldListFilter))
    list_select_related = ("patient", "user", "added_by")
    search_fields = (
        "patient__first_name",
        "patient__last_name",
        "patient__email",
        "user__username",
        "user__display_name",
        "external_name",
        "external_practice",
    )
    autocomplete_fields = ("patient", "user")
    readonly_fields = ("added_by",)
    audit_label = "care team in admin"

    @admin.display(description="member")
    def name(self, obj):
        return obj.name

    def save_model(self, request, obj, form, change):
        if not change:
            obj.added_by = request.user
        super().save_model(request, obj, form, change)
        patient_has_lead_sync(patient_id=obj.patient_id)
