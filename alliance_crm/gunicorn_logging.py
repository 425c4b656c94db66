"""gunicorn's access log with patient-link tokens masked: ``--logger-class alliance_crm.gunicorn_logging.MaskedLogger``.

gunicorn writes the request line, path and query into each access line; a token there opens a patient's
check-in or unsubscribe page, so it never reaches the log.
"""

from gunicorn.glogging import Logger

from .privacy import mask_tokens


class MaskedLogger(Logger):
    """Every atom an access log format may use (request line, path, referrer, headers, environ) masked."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        return {key: mask_tokens(value) if isinstance(value, str) else value for key, value in atoms.items()}
