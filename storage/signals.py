"""A storage item's file goes when its row goes (retention, or a run/task/organization
deleted with everything under it), once the deletion has committed."""

from __future__ import annotations

import logging
from typing import Any

from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver

from storage.models import StorageItem

logger = logging.getLogger(__name__)


def _file_delete(name: str) -> None:
    try:
        default_storage.delete(name)
    except OSError:
        logger.warning("Could not delete stored file %s", name, exc_info=True)


@receiver(post_delete, sender=StorageItem)
def storage_item_deleted(sender: type[StorageItem], instance: StorageItem, **kwargs: Any) -> None:
    name = instance.file.name
    if name:
        transaction.on_commit(lambda: _file_delete(name))
