"""``manage.py run_task --file FIELD=PATH``: a file input from the shell."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from storage import jobs
from storage.models import StorageItem
from tests.storage.documents import bill
from tests.storage.test_extraction import extraction_task

# run_create publishes the extraction from an on_commit callback: commits must happen.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def extracted_now(monkeypatch):
    """Publishing an extraction run extracts it at once, in this process."""
    monkeypatch.setattr(jobs, "extract_run_publish", lambda run_id: jobs.extract_run(run_id))
    monkeypatch.setattr(jobs, "scan_publish", lambda item_id: None)


def test_run_task_sends_a_file_and_prints_the_result(org, credential, tmp_path, extracted_now):
    task = extraction_task(org)
    path = tmp_path / "january bill.pdf"
    path.write_bytes(bill("58291-44720", "2024-12-18", "8,247.41"))
    out = StringIO()
    call_command(
        "run_task",
        task.id,
        "--credential",
        credential.id,
        "--file",
        f"bill={path}",
        "--wait",
        stdout=out,
    )
    text = out.getvalue()
    item = StorageItem.objects.get()
    assert (item.file_name, item.file_type, item.purpose) == (
        "january bill.pdf",
        "application/pdf",
        "extraction",
    )
    assert f"  - {item.id} january bill.pdf ({item.file_size} bytes) http" in text
    output = json.loads(text.split("Output:\n", 1)[1])
    assert output["account_number"] == "58291-44720"


def test_run_task_file_errors(org, credential, tmp_path, extracted_now):
    task = extraction_task(org)
    for spec, message in (
        ("bill", "FIELD=PATH"),
        (f"other={tmp_path}/x.pdf", "not a file input"),
        (f"bill={tmp_path}/missing.pdf", "No such file"),
    ):
        with pytest.raises(CommandError, match=message):
            call_command(
                "run_task",
                task.id,
                "--credential",
                credential.id,
                "--file",
                spec,
                stdout=StringIO(),
            )
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4 not really")
    out = StringIO()
    with pytest.raises(CommandError, match="completed with a failure result"):
        call_command(
            "run_task",
            task.id,
            "--credential",
            credential.id,
            "--file",
            f"bill={broken}",
            "--wait",
            stdout=out,
        )
    assert "1 file(s) failed extraction [storage.extraction_failed]" in out.getvalue()
