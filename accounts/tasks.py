"""Thin Celery tasks for beat."""

from celery import shared_task

from .audit import system_context
from .services import audit_head_publish


@shared_task(name="accounts.audit_head", ignore_result=True)
def audit_head() -> str:
    """Beat schedules it daily: the audit trail's head in the log (and mail), outside the database."""
    with system_context("beat task accounts.audit_head"):
        return str(audit_head_publish())
