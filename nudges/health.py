"""``/healthz``: the database and the broker answer, and the worker and beat were seen lately.

Public on purpose, so it says only ok, down or stale per part, never why: the logs do. The worker's and
beat's heartbeats live in the database (``nudges.Heartbeat``) because the outbox is what stops when either
does; a worker or beat not seen for ``HEALTH_HEARTBEAT_STALE_SECONDS`` is stale, and so is every heartbeat
while the database cannot be read.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from alliance_crm.health import broker_ok, database_ok

from . import selectors

logger = logging.getLogger(__name__)


def heartbeats_ok() -> dict[str, bool]:
    try:
        return selectors.heartbeats_fresh(
            now=timezone.now(), stale_after=timedelta(seconds=settings.HEALTH_HEARTBEAT_STALE_SECONDS)
        )
    except DatabaseError:
        logger.warning("healthz: heartbeats could not be read", exc_info=True)
        return {"worker": False, "beat": False}


@never_cache
@require_GET
def healthz(request):
    up = {"database": database_ok(), "broker": broker_ok()}
    alive = heartbeats_ok() if up["database"] else {"worker": False, "beat": False}
    healthy = all(up.values()) and all(alive.values())
    body = (
        {"status": "ok" if healthy else "down"}
        | {part: "ok" if ok else "down" for part, ok in up.items()}
        | {part: "ok" if ok else "stale" for part, ok in alive.items()}
    )
    return JsonResponse(body, status=200 if healthy else 503)
