"""Thin Celery tasks for beat; safe to run twice (each refresh replaces its rows)."""

from celery import shared_task

from accounts.audit import system_context

from . import figures


@shared_task(name="dashboard.refresh_figures", ignore_result=True)
def refresh_figures() -> int:
    with system_context("beat task dashboard.refresh_figures"):
        return figures.figures_refresh()
