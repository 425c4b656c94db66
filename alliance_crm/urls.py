from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "Alliance CRM administration"
admin.site.site_title = "Alliance CRM admin"
admin.site.index_title = "Clinic settings, people and the audit trail"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("patients/", include("patients.urls")),
    path("nudges/", include("nudges.urls")),
    path("", include("journeys.urls")),
    path("", include("compliance.urls")),
    path("", include("nudges.urls_public")),  # /healthz, unsubscribe links, the Twilio webhook: no sign-in
    path("", include("dashboard.urls")),
]

handler403 = "alliance_crm.errors.permission_denied"
handler404 = "alliance_crm.errors.page_not_found"
handler500 = "alliance_crm.errors.server_error"
