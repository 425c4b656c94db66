"""Thin Celery tasks: the webhook dispatcher beat runs. The delivery rows, not the broker, make it safe to repeat."""

from celery import shared_task

from accounts.audit import system_context

from . import services


@shared_task(name="api.dispatch_webhooks", ignore_result=True)
def dispatch_webhooks() -> str:
    with system_context("beat task api.dispatch_webhooks"):
        return str(services.webhooks_dispatch_due())
