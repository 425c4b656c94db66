"""Admin for the intake questionnaire and the clinic's agreements.

A questionnaire is edited as a draft version: its sections here, each section's questions on the section's
own page. Publishing (an action) makes it the version sent and retires the one before; a published version
is shown read-only and never changes — "Make a new draft version" copies it for the next edit. Editing an
agreement's wording makes a new version of it (signatures keep the exact text they signed).
"""

from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from accounts.refusals import validation_message

from . import intake_services as services
from .models import Agreement, Questionnaire, QuestionnaireQuestion, QuestionnaireSection


def _editable(obj) -> bool:
    if obj is None:
        return True
    questionnaire = obj if isinstance(obj, Questionnaire) else obj.questionnaire
    return questionnaire.is_editable


class DraftOnlyMixin:
    """Changes only while the questionnaire is a draft; a published version is read-only."""

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and _editable(obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and _editable(obj)


class DraftOnlyInlineMixin(DraftOnlyMixin):
    """An inline of a questionnaire or section: rows are added only while it is a draft."""

    def has_add_permission(self, request, obj=None):
        return super().has_add_permission(request, obj) and _editable(obj)


class SectionInline(DraftOnlyInlineMixin, admin.TabularInline):
    model = QuestionnaireSection
    fields = ("position", "link_id", "title", "intro", "note_field")
    extra = 0
    show_change_link = True


@admin.register(Questionnaire)
class QuestionnaireAdmin(DraftOnlyMixin, admin.ModelAdmin):
    list_display = ("title", "version", "status", "published_at", "slug")
    list_filter = ("status",)
    fields = ("slug", "version", "title", "intro", "link_valid_days", "status", "published_at")
    readonly_fields = ("status", "published_at")
    inlines = [SectionInline]
    actions = ["publish", "new_version"]

    @admin.action(description="Publish the selected draft (it becomes the version sent)")
    def publish(self, request, queryset):
        for questionnaire in queryset:
            try:
                services.questionnaire_publish(questionnaire=questionnaire)
            except ValidationError as error:
                self.message_user(request, f"{questionnaire}: {validation_message(error)}", messages.ERROR)
            else:
                self.message_user(request, f"{questionnaire.title} v{questionnaire.version} is published.")

    @admin.action(description="Make a new draft version to edit")
    def new_version(self, request, queryset):
        for questionnaire in queryset:
            try:
                draft = services.questionnaire_new_version(questionnaire=questionnaire)
            except ValidationError as error:
                self.message_user(request, f"{questionnaire}: {validation_message(error)}", messages.ERROR)
            else:
                self.message_user(
                    request, f"Draft version {draft.version} of {draft.title} is ready to edit."
                )


class QuestionInline(DraftOnlyInlineMixin, admin.StackedInline):
    model = QuestionnaireQuestion
    fields = (
        ("position", "link_id", "kind", "required"),
        "text",
        "help_text",
        "options",
        ("scale_low", "scale_high"),
    )
    extra = 0


@admin.register(QuestionnaireSection)
class QuestionnaireSectionAdmin(DraftOnlyMixin, admin.ModelAdmin):
    list_display = ("title", "questionnaire", "position", "link_id")
    list_filter = ("questionnaire",)
    fields = ("questionnaire", "position", "link_id", "title", "intro", "note_field")
    inlines = [QuestionInline]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "questionnaire":
            kwargs["queryset"] = Questionnaire.objects.filter(status=Questionnaire.Status.DRAFT)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(Agreement)
class AgreementAdmin(admin.ModelAdmin):
    list_display = ("title", "version", "active", "updated_at")
    fields = ("key", "title", "body", "active", "position", "version", "updated_at")
    readonly_fields = ("version", "updated_at")

    def save_model(self, request, obj, form, change):
        services.agreement_save(agreement=obj, actor=request.user)

    def has_delete_permission(self, request, obj=None):
        return False  # signed ones are kept; untick "active" to stop asking for one
