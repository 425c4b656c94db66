"""Thin Celery tasks: ids in, one service call. The outbox row, not the broker, makes them safe to repeat."""

from celery import shared_task

from accounts.audit import system_context

from . import services
from .models import Heartbeat


def _soft_time_limit(task) -> float | None:
    """The soft time limit this very run is under: the message's own (its sender set it), else the task's."""
    _hard, soft = task.request.timelimit or (None, None)
    return soft or task.soft_time_limit or None


@shared_task(bind=True, name="nudges.dispatch_due", ignore_result=True)
def dispatch_due(self) -> str:
    with system_context("beat task nudges.dispatch_due"):
        return str(services.nudge_dispatch_due(soft_time_limit=_soft_time_limit(self)))


@shared_task(bind=True, name="nudges.deliver", ignore_result=True)
def deliver(self, nudge_id: int) -> bool:
    with system_context("task nudges.deliver"):
        return services.nudge_deliver(nudge_id=nudge_id, soft_time_limit=_soft_time_limit(self))


@shared_task(name="nudges.reconcile", ignore_result=True)
def reconcile() -> str:
    with system_context("beat task nudges.reconcile"):
        return str(services.nudge_reconcile_stuck())


@shared_task(name="nudges.heartbeat", ignore_result=True, expires=60)
def heartbeat() -> str:
    """Beat schedules it, a worker runs it: "worker last seen" for /healthz."""
    with system_context("beat task nudges.heartbeat"):
        services.heartbeat_record(component=Heartbeat.Component.WORKER)
    return "ok"
