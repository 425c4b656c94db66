"""Admin for API keys (shown once, revocable), webhook endpoints and their delivery log."""

from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html_join

from accounts.admin import ReadOnlyMixin
from accounts.models import DomainEvent

from .models import ApiKey, Scope, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from .services import api_key_create, api_key_revoke, webhook_endpoint_create, webhook_resend


class ApiKeyForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(choices=Scope.choices, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = ApiKey
        fields = ["name", "scopes"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    form = ApiKeyForm
    list_display = ["name", "prefix", "scope_list", "created_at", "created_by", "last_used_at", "revoked_at"]
    readonly_fields = ["prefix", "created_at", "created_by", "last_used_at", "revoked_at", "revoked_by"]
    actions = ["revoke"]

    @admin.display(description="scopes")
    def scope_list(self, obj):
        return ", ".join(obj.scopes)

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "name", "scopes"] if obj else self.readonly_fields

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is not None:
            kwargs["form"] = forms.ModelForm
        return super().get_form(request, obj, change, **kwargs)

    def save_model(self, request, obj, form, change):
        if change:
            return  # a key's name and scopes never change: revoke it and make another
        key, raw = api_key_create(
            actor=request.user, name=form.cleaned_data["name"], scopes=form.cleaned_data["scopes"]
        )
        obj.pk = key.pk
        messages.warning(
            request,
            f"The key for “{key.name}” is {raw} — copy it now: it is shown this once and never stored.",
        )

    def has_delete_permission(self, request, obj=None):
        return False  # revoked, never deleted: the audit trail names keys

    @admin.action(description="Revoke the selected keys (every later call is refused)")
    def revoke(self, request, queryset):
        for key in queryset:
            api_key_revoke(key=key, actor=request.user)
        messages.success(request, f"Revoked {queryset.count()} key(s).")


class EndpointForm(forms.ModelForm):
    events = forms.MultipleChoiceField(choices=DomainEvent.Name.choices, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = WebhookEndpoint
        fields = ["name", "url", "events", "active"]


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = EndpointForm
    list_display = ["name", "url", "active", "created_at"]
    readonly_fields = ["created_at", "created_by"]

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        endpoint = webhook_endpoint_create(
            actor=request.user, name=obj.name, url=obj.url, events=form.cleaned_data["events"]
        )
        obj.pk = endpoint.pk
        messages.warning(
            request,
            f"Signing secret for “{endpoint.name}”: {endpoint.secret} — give it to the receiving system; "
            "each delivery's X-Alliance-Signature header is t=<unix time>,v1=HMAC-SHA256(secret, t + '.' + body).",
        )


class AttemptInline(ReadOnlyMixin, admin.TabularInline):
    model = WebhookAttempt
    fields = ["at", "status_code", "error", "duration_ms"]
    readonly_fields = fields
    extra = 0


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """The delivery log: every delivery, its status and each try."""

    list_display = [
        "event_name",
        "endpoint",
        "status",
        "attempts",
        "created_at",
        "next_attempt_at",
        "delivered_at",
    ]
    list_filter = ["status", "event_name", "endpoint"]
    list_select_related = ["endpoint"]
    readonly_fields = [
        "endpoint",
        "event",
        "event_name",
        "status",
        "attempts",
        "next_attempt_at",
        "delivered_at",
        "last_error",
        "tries_so_far",
    ]
    inlines = [AttemptInline]
    actions = ["resend"]

    @admin.display(description="tries")
    def tries_so_far(self, obj):
        return (
            format_html_join(", ", "{} {}", ((t.at, t.status_code or t.error) for t in obj.tries.all()))
            or "none yet"
        )

    @admin.action(description="Send the selected failed or unknown deliveries again")
    def resend(self, request, queryset):
        sent = sum(webhook_resend(delivery=delivery) for delivery in queryset)
        messages.success(request, f"{sent} delivery(ies) will be sent again.")
