from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "deck.settings")

app = Celery("deck")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Job modules are called jobs.py so that the ``tasks`` app never holds a tasks/tasks.py.
app.autodiscover_tasks(related_name="jobs")
