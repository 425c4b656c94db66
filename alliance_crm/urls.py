from django.contrib import admin
from django.urls import include, path

from nudges import views as nudge_views
from nudges import webhooks

from . import health

admin.site.site_header = "Alliance CRM administration"
admin.site.site_title = "Alliance CRM admin"
admin.site.index_title = "Clinic settings, people and the audit trail"

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("accounts/", include("alliance_crm.accounts.urls")),
    path("patients/", include("patients.urls")),
    path("nudges/", include("nudges.urls")),
    path("", include("journeys.urls")),
    path("", include("compliance.urls")),
    # Public: reached from a patient's message, proven by a signed token.
    path("u/<str:token>/", nudge_views.unsubscribe, name="unsubscribe"),
    # Public: called by Twilio, proven by its X-Twilio-Signature.
    path("hooks/sms/twilio/", webhooks.twilio_inbound_sms, name="twilio_inbound_sms"),
    path("", include("alliance_crm.dashboard.urls")),
]

handler403 = "alliance_crm.errors.permission_denied"
handler404 = "alliance_crm.errors.page_not_found"
handler500 = "alliance_crm.errors.server_error"
