"""Thin Celery tasks for beat. Both are safe to run twice: the rows, not the broker, make them idempotent."""

from celery import shared_task

from accounts.audit import system_context

from . import detection


@shared_task(name="compliance.mark_missed", ignore_result=True)
def mark_missed() -> int:
    with system_context("beat task compliance.mark_missed"):
        return detection.checkins_mark_missed()


@shared_task(name="compliance.detect_faltering", ignore_result=True)
def detect_faltering() -> int:
    with system_context("beat task compliance.detect_faltering"):
        return len(detection.detect_faltering())
