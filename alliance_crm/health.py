"""The wiring's own probes for ``/healthz``: is the database answering, is the broker answering.

The view is ``nudges.health.healthz``: it adds whether the worker and beat are alive, which needs the
outbox's heartbeat table, and this floor imports no app.
"""

import logging

from django.conf import settings
from django.db import connection
from kombu import Connection

logger = logging.getLogger(__name__)

BROKER_TIMEOUT_SECONDS = 2


def database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception:
        logger.exception("healthz: database check failed")
        return False


def broker_ok() -> bool:
    try:
        with Connection(
            settings.CELERY_BROKER_URL,
            transport_options=settings.CELERY_BROKER_TRANSPORT_OPTIONS,
            connect_timeout=BROKER_TIMEOUT_SECONDS,
        ) as conn:
            conn.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_SECONDS)
            conn.default_channel  # noqa: B018 — opening a channel proves the broker answers
        return True
    except Exception:
        logger.warning("healthz: broker check failed", exc_info=True)
        return False
