from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm

from .models import AccessEvent, User


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
    readonly_fields = ("last_login", "date_joined")
    filter_horizontal = ()


@admin.register(AccessEvent)
class AccessEventAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """The audit trail: readable by admins, never changed or deleted."""

    list_display = ("at", "actor", "actor_label", "action", "patient_id", "object_repr", "ip_address")
    list_filter = ("action", "object_type")
    search_fields = ("actor__username", "actor__display_name", "object_repr", "detail", "=patient_id")
    list_select_related = ("actor", "object_type")
    date_hierarchy = "at"
    readonly_fields = [f.name for f in AccessEvent._meta.fields]
