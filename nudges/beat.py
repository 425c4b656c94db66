"""Celery beat's scheduler, which also writes "beat last seen" while it schedules (for ``/healthz``).

Set by ``CELERY_BEAT_SCHEDULER``. A failed write (the database restarting) is logged and never stops beat.
"""

from __future__ import annotations

import logging
import time

from celery.beat import PersistentScheduler
from django.db import close_old_connections

logger = logging.getLogger(__name__)

BEAT_HEARTBEAT_SECONDS = 15.0


class Scheduler(PersistentScheduler):
    _last_heartbeat: float | None = None

    def tick(self, *args, **kwargs) -> float:
        self._heartbeat()
        return min(super().tick(*args, **kwargs), BEAT_HEARTBEAT_SECONDS)

    def _heartbeat(self) -> None:
        now = time.monotonic()
        if self._last_heartbeat is not None and now - self._last_heartbeat < BEAT_HEARTBEAT_SECONDS:
            return
        from . import services  # beat loads this class before the task modules: keep Django's import late
        from .models import Heartbeat

        close_old_connections()  # beat outlives connections: a restarted database leaves a dead one
        try:
            services.heartbeat_record(component=Heartbeat.Component.BEAT)
        except Exception:  # beat must keep scheduling whatever happens to the database
            logger.warning("beat could not record its heartbeat", exc_info=True)
        else:
            self._last_heartbeat = now
        finally:
            close_old_connections()
