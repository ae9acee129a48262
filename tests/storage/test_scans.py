"""Malware scans: the scanners, and how an attachment's verdict moves its run."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from pathlib import Path

import pytest

from deck.events.models import Event
from storage import scanning
from storage.errors import ScanUnavailable
from storage.models import StorageItem
from storage.scanning import ClamdScanner, SignatureScanner, rules_load
from storage.selectors import scans_overdue
from storage.services import storage_scan
from tasks.execution import run_execute, runs_sweep
from tasks.models import Session, TaskRun
from tasks.runs import run_dispatch
from tests.storage.conftest import EICAR, PDF_LIKE, attachment, attachment_task, start

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def file_planner(settings):
    settings.DECK_AGENT_PLANNER = "tests.storage.planners.FilePlanner"


# -- the scanners -------------------------------------------------------------------------


def test_builtin_scanner_flags_eicar_and_the_bundled_rules():
    scanner = scanning.scanner()
    assert isinstance(scanner, SignatureScanner)
    assert scanner.scan(EICAR) == scanning.ScanResult(False, "Eicar-Test-Signature")
    assert scanner.scan(b"prefix " + EICAR + b" suffix").signature == "Eicar-Test-Signature"
    assert scanner.scan(PDF_LIKE) == scanning.ScanResult(True, None)
    launch = b"%PDF-1.7\n1 0 obj << /OpenAction << /S /Launch /F (cmd.exe) >> >>"
    assert scanner.scan(launch).signature == "Heuristic.PDF.LaunchAction"
    js = b"%PDF-1.7\n<< /OpenAction 2 0 R >> 2 0 obj << /S /JavaScript /JS (app.alert(1)) >>"
    assert scanner.scan(js).signature == "Heuristic.PDF.AutoRunJavaScript"
    assert scanner.scan(b"MZ" + b"\0" * 62 + b"PE\0\0rest").signature == "Heuristic.Executable.PE"
    assert scanner.scan(b"plain text mentioning /JavaScript and MZ").clean


def test_a_scanner_without_signatures_never_says_clean(tmp_path: Path):
    with pytest.raises(ScanUnavailable):
        SignatureScanner(()).scan(b"anything")
    empty = tmp_path / "rules.json"
    empty.write_text('{"rules": []}')
    with pytest.raises(ScanUnavailable):
        SignatureScanner(rules_load(empty)).scan(b"anything")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ScanUnavailable):
        rules_load(broken)
    with pytest.raises(ScanUnavailable):
        rules_load(tmp_path / "missing.json")


class FakeClamd:
    """clamd's INSTREAM protocol on a loopback port (ClamAV itself needs signature
    downloads this machine cannot make)."""

    def __init__(self, *, broken: bool = False) -> None:
        self.broken = broken
        self.received: list[bytes] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self.sock.accept()
                with conn:
                    self._session(conn)

    def _read(self, conn: socket.socket, size: int) -> bytes:
        data = b""
        while len(data) < size:
            part = conn.recv(size - len(data))
            if not part:
                raise OSError("closed")
            data += part
        return data

    def _session(self, conn: socket.socket) -> None:
        assert self._read(conn, 10) == b"zINSTREAM\0"
        data = b""
        while True:
            (size,) = struct.unpack("!L", self._read(conn, 4))
            if not size:
                break
            data += self._read(conn, size)
        self.received.append(data)
        if self.broken:
            reply = b"INSTREAM size limit exceeded. ERROR\0"
        elif b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE" in data:
            reply = b"stream: Eicar-Signature FOUND\0"
        else:
            reply = b"stream: OK\0"
        conn.sendall(reply)

    def close(self) -> None:
        self.sock.close()


def test_clamd_instream(settings):
    clamd = FakeClamd()
    try:
        settings.CLAMD_HOST, settings.CLAMD_PORT = "127.0.0.1", clamd.port
        scanner = scanning.scanner()
        assert isinstance(scanner, ClamdScanner)
        big = PDF_LIKE * 5000  # several INSTREAM chunks
        assert scanning.scan(big) == scanning.ScanResult(True, None)
        assert clamd.received[-1] == big
        assert scanning.scan(EICAR) == scanning.ScanResult(False, "Eicar-Signature")
    finally:
        clamd.close()
    broken = FakeClamd(broken=True)
    try:
        settings.CLAMD_PORT = broken.port
        with pytest.raises(ScanUnavailable, match="size limit"):
            scanning.scan(b"data")
    finally:
        broken.close()
    settings.CLAMD_PORT = 1  # nothing listens there
    with pytest.raises(ScanUnavailable):
        scanning.scan(b"data")


# -- attachment runs ----------------------------------------------------------------------


def test_clean_attachment_holds_the_run_until_scanned_then_the_agent_gets_the_file(
    org, api, credential
):
    task = attachment_task(org)
    run = start(api, task, credential, {"resume": attachment(PDF_LIKE)})
    run_id, item_id = run["id"], run["storage"][0]["id"]
    # Neither the dispatcher nor the sweeper hands it to a worker before the scan passes.
    assert run_dispatch(run_id) is False
    TaskRun.objects.filter(pk=run_id).update(dispatched_at=None)
    runs_sweep()
    assert TaskRun.objects.get(pk=run_id).dispatched_at is None
    assert run_execute(run_id) == "skipped"  # nor does a worker that gets it anyway
    assert TaskRun.objects.get(pk=run_id).status == "queued"

    assert storage_scan(item_id=item_id) == "clean"
    assert storage_scan(item_id=item_id) == "skipped"  # a duplicate job does nothing
    stored = TaskRun.objects.get(pk=run_id)
    assert stored.status == "queued"
    assert stored.dispatched_at is not None

    assert run_execute(run_id) == "finished"
    finished = TaskRun.objects.get(pk=run_id)
    assert finished.status == "completed", finished.errors
    seen = finished.output["attachments"]["resume"]
    assert seen["storage_id"] == item_id
    assert (seen["file_name"], seen["content_type"]) == ("resume.pdf", "application/pdf")
    assert seen["exists"] is True
    assert seen["sha256"] == StorageItem.objects.get(pk=item_id).sha256
    assert not Path(seen["path"]).exists()  # removed when the run ended


def test_eicar_attachment_fails_the_run(org, api, credential):
    task = attachment_task(org)
    run = start(api, task, credential, {"resume": attachment(EICAR, name="cv.pdf")})
    item_id = run["storage"][0]["id"]
    assert storage_scan(item_id=item_id) == "infected"
    item = StorageItem.objects.get(pk=item_id)
    assert (item.scan_status, item.scan_detail) == ("infected", "Eicar-Test-Signature")
    failed = api.get(f"/v2/task-runs/{run['id']}").json()
    assert (failed["status"], failed["result"]) == ("failed", "failure")
    [error] = failed["errors"]
    assert (error["type"], error["code"]) == ("storage", "attachment_invalid")
    assert "cv.pdf" in error["message"]
    assert Event.objects.filter(type="task_run.failed", data__id=run["id"]).exists()
    assert Session.objects.get(pk=run["session_id"]).status == "idle"
    assert run_dispatch(run["id"]) is False


def test_every_attachment_must_pass(org, api, credential):
    from tests.api.factories import make_task
    from tests.storage.conftest import file_field

    task = make_task(
        org,
        prompt="",
        input_schema={
            "type": "object",
            "properties": {"a": file_field("attachment"), "b": file_field("attachment")},
        },
    )
    run = start(
        api,
        task,
        credential,
        {"a": attachment(PDF_LIKE, name="a.pdf"), "b": attachment(PDF_LIKE, name="b.pdf")},
    )
    first, second = sorted(run["storage"], key=lambda s: s["file_name"])
    storage_scan(item_id=first["id"])
    assert TaskRun.objects.get(pk=run["id"]).dispatched_at is None
    storage_scan(item_id=second["id"])
    assert TaskRun.objects.get(pk=run["id"]).dispatched_at is not None


def test_scanner_down_retries_then_fails_the_run(org, api, credential, settings):
    task = attachment_task(org)
    run = start(api, task, credential, {"resume": attachment(PDF_LIKE)})
    item_id = run["storage"][0]["id"]
    settings.CLAMD_HOST, settings.CLAMD_PORT = "127.0.0.1", 1
    with pytest.raises(ScanUnavailable):
        storage_scan(item_id=item_id, final=False)
    item = StorageItem.objects.get(pk=item_id)
    assert (item.scan_status, item.scan_started_at) == ("pending", None)  # claim released
    assert storage_scan(item_id=item_id, final=True) == "error"
    failed = TaskRun.objects.get(pk=run["id"])
    assert failed.status == "failed"
    assert failed.errors[0]["code"] == "attachment_invalid"
    assert "could not be scanned" in failed.errors[0]["message"]


def test_lost_scans_are_found_by_the_sweep(org, api, credential, settings):
    from datetime import timedelta

    from django.utils import timezone

    task = attachment_task(org)
    run = start(api, task, credential, {"resume": attachment(PDF_LIKE)})
    item_id = run["storage"][0]["id"]
    assert scans_overdue() == []  # just published
    StorageItem.objects.filter(pk=item_id).update(created_at=timezone.now() - timedelta(minutes=1))
    assert scans_overdue() == [item_id]
    # A claim within its lease is left alone; a stale one is taken over.
    StorageItem.objects.filter(pk=item_id).update(scan_started_at=timezone.now())
    assert scans_overdue() == []
    StorageItem.objects.filter(pk=item_id).update(
        scan_started_at=timezone.now() - timedelta(seconds=settings.DECK_SCAN_LEASE_SECONDS + 1)
    )
    assert scans_overdue() == [item_id]
    assert storage_scan(item_id=item_id) == "clean"
    assert scans_overdue() == []
