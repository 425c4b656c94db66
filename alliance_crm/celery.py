"""The Celery app: configured from Django settings (``CELERY_*``), tasks found in each app's ``tasks.py``.

The heartbeat beat schedules is ``nudges.heartbeat``; beat's own is written by ``nudges.beat.Scheduler``.
"""

import os
from pathlib import Path

from celery import Celery
from django.conf import settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "alliance_crm.settings")

app = Celery("alliance_crm")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def ensure_broker_folders() -> None:
    """Create the filesystem broker's folders: kombu makes none of them itself."""
    for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
        folder = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get(key)
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)


ensure_broker_folders()
