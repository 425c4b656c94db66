"""Thin Celery tasks: ids in, one service call. The outbox row, not the broker, makes them safe to repeat."""

from celery import shared_task

from accounts.audit import system_context

from . import services
from .models import Heartbeat


@shared_task(name="nudges.dispatch_due", ignore_result=True)
def dispatch_due() -> str:
    with system_context("beat task nudges.dispatch_due"):
        return str(services.nudge_dispatch_due())


@shared_task(name="nudges.deliver", ignore_result=True)
def deliver(nudge_id: int) -> bool:
    with system_context("task nudges.deliver"):
        return services.nudge_deliver(nudge_id=nudge_id)


@shared_task(name="nudges.reconcile", ignore_result=True)
def reconcile() -> int:
    with system_context("beat task nudges.reconcile"):
        return services.nudge_reconcile_stuck()


@shared_task(name="nudges.heartbeat", ignore_result=True, expires=60)
def heartbeat() -> str:
    """Beat schedules it, a worker runs it: "worker last seen" for /healthz."""
    with system_context("beat task nudges.heartbeat"):
        services.heartbeat_record(component=Heartbeat.Component.WORKER)
    return "ok"
