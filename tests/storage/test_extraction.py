"""Extraction with the real engine: extraction-purpose runs, captured files, failures
(seed 002 "Extraction errors") and deduplication across runs."""

from __future__ import annotations

import base64
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.utils import timezone

from deck.events.models import Event
from storage.jobs import extract_run
from storage.models import StorageItem
from storage.services import storage_capture
from tasks.execution import run_execute, runs_sweep
from tasks.models import TaskRun
from tests.api.factories import make_credential, make_task
from tests.storage.conftest import file_field, start
from tests.storage.documents import bill, capture_line

pytestmark = pytest.mark.django_db

BILL_SCHEMA = {
    "type": "object",
    "properties": {
        "vendor_name": {"type": "string"},
        "account_number": {"type": "string"},
        "amount_due": {"type": "number"},
    },
}
DEDUP_SCHEMA = {
    "type": "object",
    "properties": {
        "account_number": {"type": "string", "description": "Utility account number"},
        "billing_period_start": {
            "type": "string",
            "description": "Billing period start date (YYYY-MM-DD)",
        },
    },
}
JANUARY = bill("58291-44720", "2024-12-18", "8,247.41")
FEBRUARY = bill("58291-44720", "2025-01-20", "6,925.18")


@pytest.fixture(autouse=True)
def file_planner(settings):
    settings.DECK_AGENT_PLANNER = "tests.storage.planners.FilePlanner"


def extraction_task(org, **fields):
    return make_task(
        org,
        name="Extract utility bill",
        prompt="",
        input_schema={
            "type": "object",
            "properties": {"bill": file_field("extraction")},
            "required": ["bill"],
        },
        output_schema={"type": "object"},
        storage={"enabled": True, "extraction": True, "extraction_schema": BILL_SCHEMA},
        **fields,
    )


def send_bill(api, task, credential, data, name="january-bill.pdf"):
    file = {
        "purpose": "extraction",
        "file_name": name,
        "content_type": "application/pdf",
        "data": base64.b64encode(data).decode(),
    }
    return start(api, task, credential, {"bill": file})


def test_extraction_run_skips_the_agent_and_returns_the_data(org, api, credential):
    task = extraction_task(org)
    run = send_bill(api, task, credential, JANUARY)
    # Running at once: it does not wait in the queue for the scan, and needs no session.
    assert run["status"] == "running"
    assert run["session_id"] is None
    types = list(
        Event.objects.filter(data__id=run["id"]).order_by("created_at").values_list("type")
    )
    assert types == [("task_run.queued",), ("task_run.running",)]
    [summary] = run["storage"]
    assert summary["purpose"] == "extraction"
    item = StorageItem.objects.get(pk=summary["id"])
    assert item.scan_status == "pending"

    assert extract_run(run["id"]) == "finished"
    assert extract_run(run["id"]) == "skipped"  # a duplicate delivery does nothing
    done = api.get(f"/v2/task-runs/{run['id']}").json()
    expected = {"vendor_name": "EnergyLink", "account_number": "58291-44720", "amount_due": 8247.41}
    assert (done["status"], done["result"], done["errors"]) == ("completed", "success", [])
    assert done["output"] == expected
    assert not TaskRun.objects.get(pk=run["id"]).steps.exists()  # no agent step at all

    got = api.get(f"/v2/storage/{item.id}").json()
    assert got["extraction"] == expected
    item.refresh_from_db()
    assert item.extraction_provenance["account_number"]["page"] == 1
    assert "58291-44720" in item.extraction_provenance["account_number"]["text"]
    [created] = Event.objects.filter(type="storage.created")
    assert created.data["extraction"] == expected
    assert Event.objects.filter(type="task_run.completed", data__id=run["id"]).exists()


def test_extraction_run_failure(org, api, credential):
    task = extraction_task(org)
    broken = b"%PDF-1.4 this is not really a PDF"
    run = send_bill(api, task, credential, broken, name="broken.pdf")
    assert extract_run(run["id"]) == "finished"
    done = api.get(f"/v2/task-runs/{run['id']}").json()
    assert (done["status"], done["result"], done["output"]) == ("completed", "failure", None)
    assert done["errors"] == [
        {
            "type": "storage",
            "code": "extraction_failed",
            "message": "1 file(s) failed extraction",
        }
    ]
    item = api.get(f"/v2/task-runs/{run['id']}/storage").json()["data"][0]
    assert item["extraction"] is None
    # The engine's reason is kept for operators (its wording is the engine's).
    assert "PDF" in StorageItem.objects.get(pk=item["id"]).extraction_error
    # The raw file is still available.
    response = Client().get(urlsplit(item["url"]).path)
    assert b"".join(response.streaming_content) == broken


def test_lost_extraction_job_is_recovered_by_the_sweeper(org, api, credential, settings):
    task = extraction_task(org)
    run = send_bill(api, task, credential, FEBRUARY)
    # Its job never arrived: after the heartbeat goes stale the sweeper queues it again, and
    # the worker that claims it extracts instead of starting the agent.
    stale = timezone.now() - timedelta(seconds=settings.DECK_RUN_LOST_AFTER_SECONDS + 1)
    TaskRun.objects.filter(pk=run["id"]).update(heartbeat_at=stale)
    assert runs_sweep()["requeued"] == 1
    assert run_execute(run["id"]) == "finished"
    done = TaskRun.objects.get(pk=run["id"])
    assert done.status == "completed"
    assert done.output["amount_due"] == 6925.18


def test_captured_files_are_extracted_and_a_failure_fails_the_result(org, api, credential):
    prompt = "\n".join(
        [
            capture_line("january.pdf", "application/pdf", JANUARY),
            capture_line("notes.bin", "application/octet-stream", b"\x00\x01\x02binary"),
            'output {"bill_count": 2}',
        ]
    )
    task = make_task(
        org,
        prompt=prompt,
        output_schema={"type": "object", "properties": {"bill_count": {"type": "integer"}}},
        storage={"enabled": True, "extraction": True, "extraction_schema": BILL_SCHEMA},
    )
    run = start(api, task, credential, {})
    assert run_execute(run["id"]) == "finished"
    done = api.get(f"/v2/task-runs/{run['id']}").json()
    # Seed 002: the run completes with a failure result; extracted files keep their data.
    assert (done["status"], done["result"]) == ("completed", "failure")
    assert done["output"] == {"bill_count": 2}
    assert [(e["code"], e["message"]) for e in done["errors"]] == [
        ("extraction_failed", "1 file(s) failed extraction")
    ]
    items = {
        i["file_name"]: i for i in api.get(f"/v2/task-runs/{run['id']}/storage").json()["data"]
    }
    assert items["january.pdf"]["extraction"]["account_number"] == "58291-44720"
    assert items["notes.bin"]["extraction"] is None
    task.refresh_from_db()
    assert task.stage_successes == 0  # a failure result is not a success


def test_generic_extraction_without_a_schema(org, api, credential):
    task = make_task(
        org,
        prompt=capture_line("january.pdf", "application/pdf", JANUARY),
        output_schema={"type": "object"},
        storage={"enabled": True, "extraction": True},
    )
    run = start(api, task, credential, {})
    assert run_execute(run["id"]) == "finished"
    assert TaskRun.objects.get(pk=run["id"]).result == "success"
    item = StorageItem.objects.get(task_run_id=run["id"])
    assert item.extraction["fields"]["Account number"] == "58291-44720"


# -- deduplication ------------------------------------------------------------------------


def dedup_task(org, prompt):
    return make_task(
        org,
        prompt=prompt,
        output_schema={"type": "object"},
        storage={
            "enabled": True,
            "extraction": True,
            "extraction_schema": BILL_SCHEMA,
            "deduplication": True,
            "deduplication_schema": DEDUP_SCHEMA,
        },
    )


def test_duplicates_across_runs_are_dropped(org, api, credential):
    # The same January bill fetched again later differs in its bytes (a fetch date printed on
    # it) but not in the fields that identify it.
    january_again = bill("58291-44720", "2024-12-18", "8,247.41", "Printed 2025-03-01")
    assert january_again != JANUARY
    first_task = dedup_task(org, capture_line("jan.pdf", "application/pdf", JANUARY))
    first = start(api, first_task, credential, {})
    assert run_execute(first["id"]) == "finished"
    assert len(api.get(f"/v2/task-runs/{first['id']}").json()["storage"]) == 1

    first_task.prompt = "\n".join(
        [
            capture_line("jan-again.pdf", "application/pdf", january_again),
            capture_line("feb.pdf", "application/pdf", FEBRUARY),
        ]
    )
    first_task.save()
    second = start(api, first_task, credential, {})
    assert run_execute(second["id"]) == "finished"
    done = api.get(f"/v2/task-runs/{second['id']}").json()
    assert (done["status"], done["result"]) == ("completed", "success")
    # The agent was told the duplicate was dropped.
    assert [c and c["file_name"] for c in done["output"]["captured"]] == [None, "feb.pdf"]
    assert [s["file_name"] for s in done["storage"]] == ["feb.pdf"]
    # Not stored, not extracted, no event.
    assert not StorageItem.objects.filter(file_name="jan-again.pdf").exists()
    created = [e.data["file_name"] for e in Event.objects.filter(type="storage.created")]
    assert sorted(created) == ["feb.pdf", "jan.pdf"]
    feb = StorageItem.objects.get(file_name="feb.pdf")
    assert feb.extraction["amount_due"] == 6925.18
    assert feb.dedup_key


def test_a_capture_reads_its_file_once_for_dedup_and_extraction(org, api, credential, monkeypatch):
    from storage.extraction import engine

    reads = []
    real_read = engine.read

    def counting_read(*args):
        reads.append(args[1])
        return real_read(*args)

    monkeypatch.setattr(engine, "read", counting_read)
    run = start(api, dedup_task(org, ""), credential, {})
    item = storage_capture(
        run_id=run["id"], file_name="feb.pdf", content_type="application/pdf", data=FEBRUARY
    )
    assert item.dedup_key
    assert item.extraction["amount_due"] == 6925.18
    assert reads == ["feb.pdf"]


def test_dedup_is_per_task_and_credential(org, api, credential):
    task = dedup_task(org, "")
    other_task = dedup_task(org, "")
    run = start(api, task, credential, {})
    assert storage_capture(
        run_id=run["id"], file_name="a.pdf", content_type="application/pdf", data=JANUARY
    )
    assert not storage_capture(
        run_id=run["id"], file_name="b.pdf", content_type="application/pdf", data=JANUARY
    )
    # Another credential of the same task, or another task, has not seen it.
    other_credential = make_credential(org, source=credential.source)
    run2 = start(api, task, other_credential, {})
    assert storage_capture(
        run_id=run2["id"], file_name="a.pdf", content_type="application/pdf", data=JANUARY
    )
    run3 = start(api, other_task, credential, {})
    assert storage_capture(
        run_id=run3["id"], file_name="a.pdf", content_type="application/pdf", data=JANUARY
    )


def test_a_file_whose_dedup_fields_cannot_be_read_is_kept(org, api, credential):
    task = dedup_task(org, "")
    run = start(api, task, credential, {})
    no_period = bill("58291-44720", "unknown", "1.00")
    for _ in range(2):
        item = storage_capture(
            run_id=run["id"], file_name="x.pdf", content_type="application/pdf", data=no_period
        )
        assert item is not None
        assert item.dedup_key is None


def test_dedup_recognises_one_bill_across_two_portal_layouts(org, api, credential, settings):
    """The sandbox's Brightwater and Cascade layouts of the same bill share nothing in their
    bytes; the fields the deduplication schema names make them one document."""
    from datetime import date

    from tasks.sandbox.accounts import sandbox_primary_login
    from tasks.sandbox.documents import brightwater_bill_pdf, cascade_statement_pdf
    from tasks.sandbox.records import utility_bills

    settings.SANDBOX_TODAY = date(2026, 11, 20)
    login = sandbox_primary_login("brightwater")
    latest, previous = utility_bills("brightwater", login, login.accounts[0])[:2]
    task = dedup_task(org, "")
    run = start(api, task, credential, {})

    def capture(name, data):
        return storage_capture(
            run_id=run["id"], file_name=name, content_type="application/pdf", data=data
        )

    first = capture("latest.pdf", brightwater_bill_pdf(login, latest))
    assert first is not None
    assert first.extraction["account_number"] == login.accounts[0].number
    assert capture("latest-redesign.pdf", cascade_statement_pdf(login, latest)) is None
    assert capture("previous.pdf", cascade_statement_pdf(login, previous)) is not None
    assert sorted(StorageItem.objects.values_list("file_name", flat=True)) == [
        "latest.pdf",
        "previous.pdf",
    ]
