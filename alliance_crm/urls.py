from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "Alliance CRM administration"
admin.site.site_title = "Alliance CRM admin"
admin.site.index_title = "Clinic settings, people and the audit trail"
# Django admin signs in through our sign-in page, with its second factor, never through a form of its own.
admin.site.login = secure_admin_login(admin.site.login)

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("accounts/", include("accounts.urls_allauth")),  # allauth: second factor, password reset
    path(
        "patients/", include("dashboard.urls_patients")
    ),  # the list (with stages) and the patients app's pages
    path("nudges/", include("nudges.urls")),
    path("", include("journeys.urls")),
    path("", include("compliance.urls")),
    path("", include("patients.urls_public")),  # the consent confirmation link: no sign-in
    path("", include("nudges.urls_public")),  # /healthz, unsubscribe links, the Twilio webhook: no sign-in
    path("", include("dashboard.urls")),
    path("", include("api.urls")),  # /api/v1/ (keys, not sessions) and the admin's FHIR download
]

handler403 = "alliance_crm.errors.permission_denied"
handler404 = "alliance_crm.errors.page_not_found"
handler500 = "alliance_crm.errors.server_error"
