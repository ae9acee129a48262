from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "deck.settings")

app = Celery("deck")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Job modules are called jobs.py so that the ``tasks`` app never holds a tasks/tasks.py.
app.autodiscover_tasks(related_name="jobs")
# Celery's Django fixup closes every database connection around each job unless told to
# reuse them; a fresh connection per run costs more than the run's own queries. The fixup
# reads this old-style key directly, so it is set here rather than through settings.
app.conf.update({"CELERY_DB_REUSE_MAX": 100})


@task_prerun.connect
def _recycle_connections(**kwargs: Any) -> None:
    """What Django does at each request: drop connections past CONN_MAX_AGE or broken (a
    database restart), so reuse never hands a job a dead connection."""
    from django.db import close_old_connections

    close_old_connections()
