"""Thin Celery tasks: ids in, one service call. The outbox row, not the broker, makes them safe to repeat."""

from celery import shared_task

from . import services
from .models import Heartbeat


@shared_task(name="nudges.dispatch_due", ignore_result=True)
def dispatch_due() -> str:
    return str(services.nudge_dispatch_due())


@shared_task(name="nudges.deliver", ignore_result=True)
def deliver(nudge_id: int) -> bool:
    return services.nudge_deliver(nudge_id=nudge_id)


@shared_task(name="nudges.reconcile", ignore_result=True)
def reconcile() -> int:
    return services.nudge_reconcile_stuck()


@shared_task(name="nudges.heartbeat", ignore_result=True, expires=60)
def heartbeat() -> str:
    """Beat schedules it, a worker runs it: "worker last seen" for /healthz."""
    services.heartbeat_record(component=Heartbeat.Component.WORKER)
    return "ok"
