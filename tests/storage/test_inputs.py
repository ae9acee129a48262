"""File inputs at run creation (seed 002): checked before the run exists, stored as items,
referenced (never carried) by the run input."""

from __future__ import annotations

import hashlib
import json

import pytest

from deck.events.models import Event
from storage.models import StorageItem
from tasks.models import Session, TaskRun
from tests.api.factories import make_credential, make_task
from tests.api.test_resources import database_dump
from tests.storage.conftest import PDF_LIKE, attachment, attachment_task, b64, file_field, start

pytestmark = pytest.mark.django_db

RESUME = PDF_LIKE + b"Jordan Lee, senior engineer. " * 40


def test_attachment_is_stored_and_the_run_input_keeps_only_a_reference(org, api, credential):
    task = attachment_task(org)
    run = start(api, task, credential, {"applicant_name": "Jordan", "resume": attachment(RESUME)})
    assert run["status"] == "queued"
    [summary] = run["storage"]
    assert summary["id"].startswith("stor_")
    assert summary == {
        "id": summary["id"],
        "object": "storage",
        "file_name": "resume.pdf",
        "file_type": "application/pdf",
        "file_size": len(RESUME),
        "purpose": "attachment",
        "created_at": summary["created_at"],
    }
    included = api.get(f"/v2/task-runs/{run['id']}?include=input").json()
    assert included["input"] == {
        "applicant_name": "Jordan",
        "resume": {
            "purpose": "attachment",
            "file_name": "resume.pdf",
            "content_type": "application/pdf",
            "storage_id": summary["id"],
        },
    }
    item = StorageItem.objects.get(pk=summary["id"])
    assert item.file.name == f"storage/{org.id}/{run['id']}/{item.id}/resume.pdf"
    assert item.sha256 == hashlib.sha256(RESUME).hexdigest()
    assert item.scan_status == "pending"
    with item.file.open("rb") as handle:
        assert handle.read() == RESUME
    # Neither the bytes nor their base64 are kept anywhere in the database or the events.
    dump = database_dump()
    assert b64(RESUME)[:200] not in dump
    assert "Jordan Lee, senior engineer" not in dump
    created = Event.objects.get(type="storage.created")
    assert created.data["id"] == item.id
    assert "url" not in created.data


@pytest.mark.parametrize(
    "data",
    ["not base64 at all!", "QUJD=====", "QUJDRA", ""],
    ids=["garbage", "bad-padding", "truncated", "empty"],
)
def test_invalid_base64_is_refused_before_the_run_exists(org, api, credential, data, media):
    task = attachment_task(org)
    file = {**attachment(b"x"), "data": data}
    body = start(api, task, credential, {"resume": file}, status=400)
    [error] = body["errors"]
    assert (error["type"], error["code"], error["field"]) == (
        "storage",
        "file_invalid",
        "input.resume",
    )
    assert not TaskRun.objects.exists()
    assert not Session.objects.exists()
    assert not StorageItem.objects.exists()
    assert not media.exists() or not any(p.is_file() for p in media.rglob("*"))


def test_too_large_file_is_413(org, api, credential, settings, media):
    settings.DECK_FILE_INPUT_MAX_BYTES = 1000
    task = attachment_task(org)
    body = start(api, task, credential, {"resume": attachment(b"a" * 1001)}, status=413)
    [error] = body["errors"]
    assert (error["type"], error["code"], error["field"]) == (
        "storage",
        "file_too_large",
        "input.resume",
    )
    assert "1000" in error["message"]
    assert not TaskRun.objects.exists()
    # Exactly at the limit is fine.
    start(api, task, credential, {"resume": attachment(b"a" * 1000)})


def test_default_limit_is_twenty_megabytes(settings):
    assert settings.DECK_FILE_INPUT_MAX_BYTES == 20 * 1024 * 1024
    # The request body may carry a file at the limit, base64-encoded.
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE > 20 * 1024 * 1024 * 4 // 3


def test_storage_id_reuse_copies_the_file_for_the_new_run(
    org, api, credential, django_capture_on_commit_callbacks
):
    task = attachment_task(org)
    first = start(api, task, credential, {"resume": attachment(RESUME)})
    original_id = first["storage"][0]["id"]
    second = start(
        api, task, credential, {"resume": {"purpose": "attachment", "storage_id": original_id}}
    )
    [copy_summary] = second["storage"]
    assert copy_summary["id"] != original_id
    assert (copy_summary["file_name"], copy_summary["file_size"]) == ("resume.pdf", len(RESUME))
    original = StorageItem.objects.get(pk=original_id)
    copy = StorageItem.objects.get(pk=copy_summary["id"])
    assert copy.task_run_id == second["id"]
    assert copy.file.name != original.file.name
    assert copy.sha256 == original.sha256
    stored = TaskRun.objects.get(pk=second["id"]).input
    assert stored["resume"]["storage_id"] == copy.id
    # Each run keeps its own file: removing the first does not touch the copy.
    with django_capture_on_commit_callbacks(execute=True):
        original.delete()
    assert not original.file.storage.exists(original.file.name)
    with copy.file.open("rb") as handle:
        assert handle.read() == RESUME


def test_storage_id_of_another_organization_is_refused(org, other_org, api, stranger_api):
    theirs_task = attachment_task(other_org)
    theirs = start(
        stranger_api, theirs_task, make_credential(other_org), {"resume": attachment(RESUME)}
    )
    task = attachment_task(org)
    for storage_id in (theirs["storage"][0]["id"], "stor_doesnotexist"):
        body = start(
            api,
            task,
            make_credential(org),
            {"resume": {"purpose": "attachment", "storage_id": storage_id}},
            status=400,
        )
        [error] = body["errors"]
        assert (error["type"], error["code"], error["field"]) == (
            "storage",
            "file_invalid",
            "input.resume",
        )
    assert not TaskRun.objects.filter(organization=org).exists()


def test_data_and_storage_id_together_is_refused(org, api, credential):
    task = attachment_task(org)
    file = {**attachment(RESUME), "storage_id": "stor_x"}
    body = start(api, task, credential, {"resume": file}, status=400)
    assert body["errors"][0]["code"] == "file_invalid"


def test_one_extraction_input_per_run(org, api, credential):
    task = make_task(
        org,
        prompt="",
        input_schema={
            "type": "object",
            "properties": {"bill": file_field("extraction"), "other": file_field("extraction")},
        },
        storage={
            "enabled": True,
            "extraction": True,
            "extraction_schema": {"type": "object", "properties": {"total": {"type": "number"}}},
        },
    )
    file = {"purpose": "extraction", "file_name": "a.txt", "data": b64(b"Total: 12")}
    body = start(api, task, credential, {"bill": file, "other": file}, status=400)
    assert (body["errors"][0]["code"], body["errors"][0]["field"]) == (
        "input_invalid",
        "input.other",
    )
    body = start(api, task, credential, {}, status=400)
    assert body["errors"][0]["field"] == "input.bill"
    assert not TaskRun.objects.exists()


def test_deduplication_without_schema_is_422(org, api, credential):
    task = make_task(org, storage={"enabled": True, "deduplication": True})
    body = start(api, task, credential, {}, status=422)
    [error] = body["errors"]
    assert (error["type"], error["code"]) == ("storage", "deduplication_schema_missing")
    assert error["message"] == (
        "deduplication_schema must be defined before running a task with deduplication enabled."
    )


def test_schema_errors_on_a_file_never_quote_its_data(org, api, credential):
    task = make_task(
        org,
        input_schema={
            "type": "object",
            "properties": {
                "resume": {
                    **file_field("attachment"),
                    "maxProperties": 3,  # the message would quote the whole object
                }
            },
        },
    )
    body = start(api, task, credential, {"resume": attachment(RESUME)}, status=400)
    assert body["errors"][0]["field"] == "input.resume"
    assert "maxProperties" in body["errors"][0]["message"]
    assert b64(RESUME)[:50] not in json.dumps(body)


def test_a_body_over_the_upload_limit_is_413_in_the_envelope(org, api, credential, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    task = attachment_task(org)
    body = {"credential_id": credential.id, "input": {"resume": attachment(b"a" * 5000)}}
    for headers in ({}, {"Idempotency-Key": "big-1"}):
        response = api.post(f"/v2/tasks/{task.id}/run", body, **headers)
        assert response.status_code == 413
        [error] = response.json()["errors"]
        assert (error["type"], error["code"]) == ("request", "request_too_large")
    assert not TaskRun.objects.exists()
