"""The outbox's public doors, mounted at the site root without a namespace.

``/u/<token>/`` is reached from a patient's message and proven by its signed token; ``/hooks/sms/twilio/``
is called by Twilio and proven by its ``X-Twilio-Signature``; ``/hooks/email/inbound/`` by the email
provider, proven by its HMAC signature; ``/healthz`` says only ok, down or stale.
"""

from django.urls import path

from . import health, views, webhooks

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("u/<str:token>/", views.unsubscribe, name="unsubscribe"),
    path("hooks/sms/twilio/", webhooks.twilio_inbound_sms, name="twilio_inbound_sms"),
    path("hooks/email/inbound/", webhooks.email_inbound, name="email_inbound"),
]
