"""WSGI entry point (gunicorn ``alliance_crm.wsgi:application``)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "alliance_crm.settings")

application = get_wsgi_application()
