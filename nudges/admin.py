"""Admin for the wording and timing of nudges, and read-only views of the outbox and of patients' replies."""

from django import forms
from django.contrib import admin
from django.utils.html import escape, format_html

from accounts.admin import LargeTableMixin, PatientAuditMixin, ReadOnlyMixin
from patients.models import Channel

from . import offsets, rendering
from .models import InboundMessage, Kind, MessageTemplate, Nudge, NudgeRule

PLACEHOLDERS = ", ".join(f"{{{{ {name} }}}}" for name in rendering.SAMPLE_CONTEXT)
MARKERS_HINT = (
    "Check that every {% if … %} names what it checks and ends with {% endif %}, "
    "and that every {{ is closed with }} and every {% with %}."
)


class MessageTemplateForm(forms.ModelForm):
    class Meta:
        model = MessageTemplate
        fields = ("kind", "channel", "subject", "body", "active")
        widgets = {"body": forms.Textarea(attrs={"rows": 12, "cols": 80})}
        help_texts = {
            "body": "Plain text. Placeholders you can use: " + PLACEHOLDERS + ". "
            "Email: the HTML part is made from this text, line breaks kept. "
            "SMS: “Reply STOP to opt out.” is added at the end.",
        }

    def _check(self, field: str) -> bool:
        try:
            rendering.check_wording(self.cleaned_data.get(field) or "")
        except rendering.WordingError as error:
            self.add_error(field, f"This wording has a mistake in its markers ({error}). {MARKERS_HINT}")
            return False
        return True

    def clean(self):
        cleaned = super().clean()
        channel = cleaned.get("channel")
        subject, body = cleaned.get("subject") or "", cleaned.get("body") or ""
        if channel == Channel.SMS and subject.strip():
            self.add_error("subject", "Text messages have no subject: leave it empty.")
        if channel == Channel.EMAIL and not subject.strip():
            self.add_error("subject", "An email needs a subject.")
        wording_ok = self._check("subject") & self._check("body")
        if wording_ok and not self.errors and cleaned.get("kind"):
            try:
                rendered = rendering.preview(cleaned["kind"], channel, subject, body)
            except Exception as error:  # any failure here would fail every real send too
                raise forms.ValidationError(
                    f"This wording cannot be written out on sample data ({error}). "
                    "Use only the placeholders listed under the body, with {% if %} and {% for %}."
                ) from error
            if "{{" in rendered.subject + rendered.text or "{%" in rendered.subject + rendered.text:
                raise forms.ValidationError(
                    "A {{ or {% is not closed, so it would reach the patient as written. " + MARKERS_HINT
                )
        return cleaned


@admin.register(MessageTemplate)
class MessageTemplateAdmin(admin.ModelAdmin):
    """The words patients read. Saved wording is checked; the change page shows it on sample data."""

    form = MessageTemplateForm
    list_display = ("__str__", "kind", "channel", "active", "updated_at", "updated_by")
    list_filter = ("channel", "active", "kind")
    list_select_related = ("updated_by",)
    readonly_fields = ("preview", "shipped_wording", "updated_at", "updated_by")
    fieldsets = (
        (None, {"fields": ("kind", "channel", "active")}),
        ("Wording", {"fields": ("subject", "body")}),
        ("As a patient reads it (the saved wording, on sample data)", {"fields": ("preview",)}),
        ("Shipped with Alliance (used when this is inactive)", {"fields": ("shipped_wording",)}),
        ("Record", {"fields": ("updated_at", "updated_by")}),
    )

    class Media:
        css = {"all": ["css/admin-wording.css"]}

    @admin.display(description="preview")
    def preview(self, obj):
        if obj is None or obj.pk is None:
            return "Save to see the wording written out for a sample patient."
        try:
            rendered = rendering.preview(obj.kind, obj.channel, obj.subject, obj.body)
        except Exception as error:  # show the problem instead of breaking the page
            return f"This wording cannot be written out: {error}"
        if obj.channel == Channel.SMS:
            return format_html(
                '<pre class="wording-preview">{}</pre><div class="help">{} characters</div>',
                rendered.text,
                len(rendered.text),
            )
        return format_html(
            "<div><strong>Subject:</strong> {}</div>"
            '<pre class="wording-preview">{}</pre>'
            '<iframe sandbox="" srcdoc="{}" title="Email preview" '
            'class="wording-preview-frame"></iframe>',
            rendered.subject,
            rendered.text,
            # the rendered layout is marked safe: escape it again for the attribute
            escape(rendering.preview_document(rendered.html)),
        )

    @admin.display(description="shipped wording")
    def shipped_wording(self, obj):
        if obj is None or not obj.kind or not obj.channel:
            return "—"
        try:
            subject, body = rendering.default_wording(obj.kind, obj.channel)
        except OSError:
            return "—"
        return format_html(
            '{}<pre class="wording-preview">{}</pre>',
            format_html("<div><strong>Subject:</strong> {}</div>", subject) if subject else "",
            body,
        )

    def save_model(self, request, obj, form, change):
        obj.updated_by = request.user
        super().save_model(request, obj, form, change)


class OffsetsField(forms.CharField):
    """A rule's minutes (``[-1440, -120]``) written and read as words ("1 day before, 2 hours before")."""

    def prepare_value(self, value):
        if isinstance(value, list):
            return offsets.offsets_to_words(value)
        return value

    def to_python(self, value):
        if isinstance(value, list):
            return value
        try:
            return offsets.words_to_offsets(super().to_python(value))
        except offsets.TimingError as error:
            raise forms.ValidationError(str(error), code="timing") from error


# The kinds whose rule sets when they go: visit reminders (before the visit, as many as wanted), and the two
# once-only notes that follow an event. Every other kind goes when its event happens.
REMINDER_KINDS = {Kind.VISIT_REMINDER}
FOLLOW_UP_KINDS = {Kind.CHECKIN_MISSED, Kind.ADHERENCE_OUTREACH}
MOST_REMINDERS = 4


class NudgeRuleForm(forms.ModelForm):
    offsets_minutes = OffsetsField(
        label="When it goes",
        required=False,
        max_length=200,
        help_text="In words, relative to the event: visit reminders “1 day before, 2 hours before”; the "
        "note after a missed check-in “1 day after”; “at the time” for the rest.",
    )

    class Meta:
        model = NudgeRule
        fields = ("kind", "enabled", "offsets_minutes", "note")

    def clean(self):
        cleaned = super().clean()
        kind, timing = cleaned.get("kind"), cleaned.get("offsets_minutes")
        if kind is None or timing is None:
            return cleaned
        if kind in REMINDER_KINDS:
            if any(minutes >= 0 for minutes in timing):
                self.add_error("offsets_minutes", "A visit reminder goes before the visit: write “… before”.")
            elif len(timing) > MOST_REMINDERS:
                self.add_error("offsets_minutes", f"At most {MOST_REMINDERS} reminders per visit.")
        elif kind in FOLLOW_UP_KINDS:
            if len(timing) != 1 or timing[0] < 0:
                self.add_error(
                    "offsets_minutes",
                    "This note goes once, after its event: write one time, such as “1 day after” or “at the time”.",
                )
        elif timing not in ([], [0]):
            self.add_error(
                "offsets_minutes", "This message goes when its event happens: leave “at the time”."
            )
        return cleaned


@admin.register(NudgeRule)
class NudgeRuleAdmin(admin.ModelAdmin):
    form = NudgeRuleForm
    list_display = ("kind", "enabled", "timing", "note")
    list_editable = ("enabled",)
    list_display_links = ("kind",)

    @admin.display(description="When it goes")
    def timing(self, rule):
        return offsets.offsets_to_words(rule.offsets_minutes) or "—"


@admin.register(Nudge)
class NudgeAdmin(LargeTableMixin, ReadOnlyMixin, PatientAuditMixin, admin.ModelAdmin):
    """The outbox, to look at only: nudges change through the services (send again, leave as is)."""

    list_display = ("send_at", "patient", "kind", "channel", "status", "attempts", "status_reason", "sent_at")
    list_filter = ("status", "kind", "channel", "send_at")
    list_select_related = ("patient",)
    search_fields = (
        "patient__first_name",
        "patient__last_name",
        "patient__preferred_name",
        "patient__email",
        "dedupe_key",
    )
    search_help_text = "Patient's name or email, or the nudge's dedupe key."
    fields = (
        ("patient", "kind", "channel"),
        ("status", "status_reason"),
        ("send_at", "sent_at", "attempts"),
        "last_error",
        "subject",
        "body_text",
        "context",
        "dedupe_key",
        ("created_at", "created_by"),
        ("reviewed_at", "reviewed_by"),
        ("claimed_at", "taken_at", "provider_id"),
    )
    readonly_fields = [name for row in fields for name in (row if isinstance(row, tuple) else (row,))]
    audit_label = "message in admin"


@admin.register(InboundMessage)
class InboundMessageAdmin(LargeTableMixin, ReadOnlyMixin, PatientAuditMixin, admin.ModelAdmin):
    """What patients wrote back, to look at only — texts from numbers no patient has are here too."""

    list_display = ("received_at", "patient", "channel", "from_address", "action")
    list_filter = ("action", "channel", "received_at")
    list_select_related = ("patient",)
    search_fields = ("patient__first_name", "patient__last_name", "from_address")
    search_help_text = "Patient's name, or the number it came from."
    fields = (
        ("patient", "channel", "from_address"),
        ("received_at", "action"),
        "body",
        "auto_reply",
        ("in_reply_to", "provider_id"),
    )
    readonly_fields = [name for row in fields for name in (row if isinstance(row, tuple) else (row,))]
    audit_label = "patient's reply in admin"
