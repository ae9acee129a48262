"""What storage keeps must not leak secrets or file contents."""

from __future__ import annotations

import base64
import json

import pytest
from django.contrib.admin.utils import quote
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from deck.events.models import Event
from storage.models import StorageItem
from tasks.execution import run_execute
from tests.api.factories import make_task
from tests.api.test_resources import database_dump
from tests.storage.conftest import PDF_LIKE, file_field, start

pytestmark = pytest.mark.django_db

CARD = "4111111111111111"
SECRET_DOC = PDF_LIKE + b"Confidential statement body 7731"


@pytest.fixture(autouse=True)
def file_planner(settings):
    settings.DECK_AGENT_PLANNER = "tests.storage.planners.FilePlanner"


def test_no_secret_or_file_content_in_the_database_or_events(org, api, credential):
    captured = base64.b64encode(SECRET_DOC).decode()
    task = make_task(
        org,
        prompt=f"capture statement.pdf application/pdf {captured}",
        input_schema={
            "type": "object",
            "properties": {"card": {"type": "string"}, "proof": file_field("attachment")},
            "tokenized": ["card"],
        },
        output_schema={"type": "object"},
        storage={"enabled": True},
    )
    proof = {
        "purpose": "attachment",
        "file_name": "proof.pdf",
        "content_type": "application/pdf",
        "data": base64.b64encode(b"Attachment: card on file " + SECRET_DOC).decode(),
    }
    run = start(api, task, credential, {"card": CARD, "proof": proof})
    from storage.services import storage_scan

    storage_scan(item_id=run["storage"][0]["id"])
    assert run_execute(run["id"]) == "finished"
    assert StorageItem.objects.filter(task_run_id=run["id"]).count() == 2
    dump = database_dump()
    # (The captured file's base64 is in the test planner's script, i.e. the task prompt.)
    for secret in (CARD, "hunter2-secret", "Confidential statement body", proof["data"][:60]):
        assert secret not in dump, secret
    events = json.dumps([event.data for event in Event.objects.all()])
    assert CARD not in events
    assert "Confidential" not in events


def test_admin_shows_metadata_not_contents(org, api, credential):
    task = make_task(
        org,
        input_schema={"type": "object", "properties": {"proof": file_field("attachment")}},
    )
    proof = {
        "purpose": "attachment",
        "file_name": "proof.pdf",
        "data": base64.b64encode(SECRET_DOC).decode(),
    }
    run = start(api, task, credential, {"proof": proof})
    item = StorageItem.objects.get(pk=run["storage"][0]["id"])
    client = Client()
    client.force_login(
        get_user_model().objects.create_superuser("root@deck.test", password="x-very-long-1")
    )
    listing = client.get(reverse("admin:storage_storageitem_changelist"))
    change = client.get(reverse("admin:storage_storageitem_change", args=[quote(item.pk)]))
    assert listing.status_code == change.status_code == 200
    assert item.file.name.encode() in change.content  # where it is stored, as text
    for page in (listing.content, change.content):
        assert b"Confidential statement body" not in page
        assert b"/media/" not in page  # no link serving the file unsigned
