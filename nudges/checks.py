"""Start-up checks: a mis-configured SMS transport is reported once, not discovered nudge by nudge."""

from django.core.checks import Error, register


@register()
def sms_backend_is_configured(app_configs, **kwargs):
    from .channels import sms_backend

    try:
        sms_backend()
    except Exception as error:  # ImproperlyConfigured, ImportError: say it plainly either way
        return [
            Error(
                f"The SMS transport cannot start: {error}",
                hint="Check SMS_BACKEND and, for Twilio, TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and "
                "TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID.",
                id="nudges.E001",
            )
        ]
    return []
