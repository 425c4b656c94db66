from operator import attrgetter

from allauth.mfa.models import Authenticator
from django.contrib import admin, messages
from django.contrib.admin import ActionLocation
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm

from .audit import record_access, record_list
from .models import AccessEvent, User
from .paging import CappedPaginator
from .services import user_deactivate, user_second_factor_reset

# A lost device is reset with the audited action on Users, never by deleting an authenticator row.
admin.site.unregister(Authenticator)


class NoAddMixin:
    """Rows that only the services create: admin may show and correct them, never add one."""

    def has_add_permission(self, request, obj=None):
        return False


class ReadOnlyMixin(NoAddMixin):
    """Rows written only by the services (audit trail, consent history, stage changes…): admin shows them
    and changes nothing. The one definition every app's admin uses."""

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class LargeTableMixin:
    """A changelist over a table that grows with the clinic (patients, the outbox, the audit trail, check-ins
    and their logs): a capped count (``CappedPaginator``: "more than 10,000") in place of Django's two exact
    ``COUNT(*)``, and dates filtered from the sidebar rather than drilled down by ``date_hierarchy``, whose
    list of years reads every row of the table."""

    show_full_result_count = False
    paginator = CappedPaginator


class PatientAuditMixin:
    """Puts admin reads, changes and deletions of patient data in the clinic's audit trail (admin keeps its
    own LogEntry too). Every ModelAdmin that shows patient data uses it (``tests/accounts/test_admin_audit``).

    The changelist writes one ``list`` row with the ids of the patients on the page, taken from the page's
    own rows (so ``patient_id_path`` must be reachable through ``list_select_related``); a change page read
    writes a ``view`` row; a save or deletion writes ``update``, ``create`` or ``delete``.
    """

    patient_id_path = "patient_id"
    audit_label = "in admin"

    def _patient_id(self, obj):
        return attrgetter(self.patient_id_path)(obj)

    def _patients_also_shown(self, obj) -> list[int]:
        """Further patients a change page shows besides ``_patient_id`` (none but on the trail's own page)."""
        return []

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        changelist = getattr(response, "context_data", {}).get("cl")
        if response.status_code == 200 and changelist is not None:
            record_list(
                patient_ids=[self._patient_id(obj) for obj in changelist.result_list],
                query=request.GET.urlencode(),
                what=f"{self.opts.verbose_name_plural} {self.audit_label}",
            )
        return response

    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        obj = getattr(response, "context_data", {}).get("original")
        if request.method == "GET" and response.status_code == 200 and obj is not None:
            record_access(
                action=AccessEvent.Action.VIEW,
                patient_id=self._patient_id(obj),
                patient_ids=self._patients_also_shown(obj),
                obj=obj,
                detail=self.audit_label,
            )
        return response

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        record_access(
            action=AccessEvent.Action.UPDATE if change else AccessEvent.Action.CREATE,
            patient_id=self._patient_id(obj),
            obj=obj,
            detail=f"{self.audit_label}: changed {', '.join(form.changed_data)}"
            if change
            else self.audit_label,
        )

    def get_actions(self, request, action_location=ActionLocation.CHANGE_LIST):
        """No "Delete selected …" on clinical records: a record is deleted one at a time, from its own page,
        after Django's confirmation lists everything that goes with it."""
        actions = super().get_actions(request, action_location=action_location)
        actions.pop("delete_selected", None)
        return actions

    def delete_model(self, request, obj):
        self._record_deletion(obj)
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self._record_deletion(obj)
        super().delete_queryset(request, queryset)

    def _record_deletion(self, obj):
        record_access(
            action=AccessEvent.Action.DELETE,
            patient_id=self._patient_id(obj),
            obj=obj,
            detail=self.audit_label,
        )


class UserCreationForm(AdminUserCreationForm):
    class Meta(AdminUserCreationForm.Meta):
        model = User
        fields = ("username", "display_name", "email", "role")


class UserEditForm(UserChangeForm):
    class Meta(UserChangeForm.Meta):
        model = User
        fields = "__all__"


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = UserEditForm
    add_form = UserCreationForm
    list_display = ("username", "display_name", "email", "role", "is_active", "last_login")
    list_filter = ("role", "is_active")
    search_fields = ("username", "display_name", "email")
    ordering = ("display_name", "username")
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        ("Person", {"fields": ("display_name", "email", "role", "is_active")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("username", "display_name", "email", "role", "password1", "password2"),
            },
        ),
    )
    readonly_fields = ("last_login", "date_joined", "second_factor")
    filter_horizontal = ()
    actions = ("reset_second_factor", "switch_off")

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:
            return fieldsets
        return (*fieldsets, ("Two-factor sign-in", {"fields": ("second_factor",)}))

    @admin.display(description="Authenticator app")
    def second_factor(self, obj):
        kinds = set(Authenticator.objects.filter(user=obj).values_list("type", flat=True))
        if Authenticator.Type.TOTP in kinds:
            return "Enrolled. Lost the phone? Use the action “Reset two-factor device” on the list of users."
        return "Not enrolled yet: enrolment starts at the next sign-in."

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change and "is_active" in form.changed_data and not obj.is_active:
            user_deactivate(actor=request.user, user=obj)

    @admin.action(description="Reset two-factor device (they enrol a new one at next sign-in)")
    def reset_second_factor(self, request, queryset):
        for user in queryset:
            user_second_factor_reset(actor=request.user, user=user)
        self.message_user(
            request,
            f"Two-factor device reset for {len(queryset)} account(s); their sessions were ended.",
            messages.SUCCESS,
        )

    @admin.action(description="Switch off (ends their sessions at once)")
    def switch_off(self, request, queryset):
        for user in queryset:
            user_deactivate(actor=request.user, user=user)
        self.message_user(request, f"{len(queryset)} account(s) switched off.", messages.SUCCESS)


@admin.register(AccessEvent)
class AccessEventAdmin(LargeTableMixin, PatientAuditMixin, ReadOnlyMixin, admin.ModelAdmin):
    """The audit trail: readable by admins, never changed or deleted. Reading it is itself on the trail:
    the list writes a ``list`` row with the patients its rows name, a row's page a ``view`` row."""

    audit_label = "in admin (the audit trail)"

    list_display = ("at", "actor", "actor_label", "action", "patient_id", "object_repr", "ip_address")
    list_filter = ("action", "object_type", "at")
    search_fields = ("actor__username", "actor__display_name", "object_repr", "detail", "=patient_id")
    list_select_related = ("actor", "object_type")
    readonly_fields = [f.name for f in AccessEvent._meta.fields]

    def _patients_also_shown(self, obj) -> list[int]:
        return list(obj.patient_ids or [])
