"""Run a task from the shell: create the run and, with ``--wait``, follow it to the end."""

from __future__ import annotations

import base64
import json
import mimetypes
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from deck.errors import DeckError
from deck.redaction import mask_values, redact, redact_data, secret_strings
from storage.schemas import storage_representation
from storage.selectors import storage_list
from tasks import selectors
from tasks.definitions import file_inputs
from tasks.models import TaskRun
from tasks.runs import run_create

S = TaskRun.Status
POLL_SECONDS = 0.5
TIMEOUT_MARGIN_SECONDS = 60


class Command(BaseCommand):
    help = (
        "Create a run of a task (in the task's organization) and print its id; with --wait, "
        "follow its status and steps until it ends and print the output."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("task_id", help="The task's id (any organization).")
        parser.add_argument("--credential", help="Credential id to log in with.")
        parser.add_argument("--source", help="Source id (runs without a credential).")
        parser.add_argument("--session", help="Session id to run in.")
        parser.add_argument("--input", default="{}", help="The run input, a JSON object.")
        parser.add_argument(
            "--file",
            action="append",
            default=[],
            metavar="FIELD=PATH",
            help="Send a local file as the file input FIELD (repeatable).",
        )
        parser.add_argument(
            "--wait",
            action="store_true",
            help="Follow the run until it ends; non-zero if it fails.",
        )
        parser.add_argument(
            "--timeout",
            type=float,
            help="Seconds to wait at most (default: the task's timeout + 60).",
        )

    def handle(
        self,
        *args: Any,
        task_id: str,
        credential: str | None = None,
        source: str | None = None,
        session: str | None = None,
        input: str = "{}",
        file: list[str] | None = None,
        wait: bool = False,
        timeout: float | None = None,
        **options: Any,
    ) -> None:
        payload = _parse_input(input)
        if timeout is not None and timeout <= 0:
            raise CommandError("--timeout must be positive.")
        # An operator command: the task decides the organization, whichever it is.
        task = selectors.task_find_any(task_id=task_id)
        if task is None:
            raise CommandError(f"No task with id {task_id!r}.")
        payload.update(_file_inputs(task.input_schema, file or []))
        masker = Masker({name: payload[name] for name in task.tokenized_fields if name in payload})
        try:
            run = run_create(
                organization=task.organization,
                task_id=task.id,
                input=payload,
                credential_id=credential,
                source_id=source,
                session_id=session,
            )
        except DeckError as exc:
            raise CommandError(
                "The run was not created:\n" + _error_lines(exc.as_dicts(), masker)
            ) from exc
        self.stdout.write(f"Run: {run.id}")
        self.stdout.write(f"Status: {run.status}")
        if not wait:
            return
        limit = timeout if timeout is not None else task.timeout_seconds + TIMEOUT_MARGIN_SECONDS
        follower = Follower(run, masker, write=self.stdout.write)
        try:
            final = follower.follow(deadline=time.monotonic() + limit)
        except KeyboardInterrupt:
            raise CommandError(
                f"Stopped waiting; the run goes on. Follow it with GET /v2/task-runs/{run.id}.",
                returncode=130,
            ) from None
        if final is None:
            raise CommandError(
                f"Gave up waiting after {limit:g} s; the run is {follower.status} and goes on. "
                f"Follow it with GET /v2/task-runs/{run.id}."
            )
        items = storage_list(organization=task.organization).filter(task_run_id=final.id)
        if items:
            self.stdout.write("Files:")
            for item in items.order_by("created_at", "pk"):
                url = storage_representation(item)["url"]
                self.stdout.write(f"  - {item.id} {item.file_name} ({item.file_size} bytes) {url}")
        if final.status == S.COMPLETED:
            self.stdout.write("Output:")
            self.stdout.write(masker.json(final.output))
            if final.result != TaskRun.Result.FAILURE:
                return
            self.stdout.write("Errors:")
            self.stdout.write(_error_lines(final.errors, masker))
            raise CommandError(f"Run {final.id} completed with a failure result.")
        self.stdout.write("Errors:")
        self.stdout.write(_error_lines(final.errors, masker))
        raise CommandError(f"Run {final.id} {final.status}.")


def _parse_input(raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise CommandError(f"--input is not valid JSON: {exc.msg} (char {exc.pos}).") from None
    if not isinstance(value, dict):
        raise CommandError("--input must be a JSON object.")
    return value


def _file_inputs(input_schema: Mapping[str, Any], specs: list[str]) -> dict[str, Any]:
    """``FIELD=PATH`` → the file input object of seed 002, the bytes base64-encoded."""
    declared = file_inputs(input_schema)
    found: dict[str, Any] = {}
    for spec in specs:
        name, _, path = spec.partition("=")
        if not path:
            raise CommandError(f"--file takes FIELD=PATH, not {spec!r}.")
        if name not in declared:
            known = ", ".join(sorted(declared)) or "none"
            raise CommandError(f"--file {name}: not a file input of this task ({known}).")
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise CommandError(f"--file {name}: {exc}") from exc
        found[name] = {
            "purpose": declared[name],
            "file_name": Path(path).name,
            "content_type": mimetypes.guess_type(path)[0] or "application/octet-stream",
            "data": base64.b64encode(data).decode(),
        }
    return found


def _error_lines(errors: list[dict[str, str]], masker: Masker) -> str:
    lines = []
    for error in errors:
        message, field = masker.text(error.get("message", "")), error.get("field")
        if field and not message.startswith(f"{field}:"):
            message = f"{field}: {message}"
        lines.append(f"  - {message} [{error.get('type')}.{error.get('code')}]")
    return "\n".join(lines)


class Masker:
    """Masks the tokenized input wherever it could come back: an error message quoting the
    value, an interaction, a step, an output. The worker already masks what it stores; this
    is the same rule applied once more, in this process, to everything printed."""

    def __init__(self, tokenized: Mapping[str, Any]) -> None:
        numbers = [v for v in tokenized.values() if isinstance(v, int | float)]
        self.secrets = secret_strings(dict(tokenized)) | {
            json.dumps(v) for v in numbers if not isinstance(v, bool)
        }

    def text(self, value: str) -> str:
        return redact(str(mask_values(value, self.secrets)))

    def data(self, value: Any) -> Any:
        return redact_data(mask_values(value, self.secrets))

    def json(self, value: Any) -> str:
        return json.dumps(self.data(value), indent=2, ensure_ascii=False)


class Follower:
    """Polls the run and writes each status change and new trace step, in the order they
    happened (server timestamps, shown relative to the run's creation)."""

    def __init__(self, run: TaskRun, masker: Masker, *, write: Callable[[str], object]) -> None:
        self.run = run
        self.masker = masker
        self.write = write
        self.status = run.status
        self.sequence = 0
        self.announced: datetime | None = None  # updated_at of the last pause explained

    def follow(self, *, deadline: float) -> TaskRun | None:
        """The run once it has ended, or None at the deadline."""
        while True:
            run = self.poll()
            if run.is_terminal:
                return run
            if time.monotonic() + POLL_SECONDS > deadline:
                return None
            time.sleep(POLL_SECONDS)

    def poll(self) -> TaskRun:
        run = selectors.run_get(organization=self.run.organization, run_id=self.run.id)
        steps = selectors.run_steps_after(run=run, sequence=self.sequence)
        lines = [
            (step.created_at, f"#{step.sequence} {step.tool} {self.masker.text(step.reasoning)}")
            for step in steps
        ]
        if steps:
            self.sequence = steps[-1].sequence
        if run.status != self.status:
            if self.status == S.QUEUED and run.started_at and run.status != S.RUNNING:
                lines.append((run.started_at, S.RUNNING))  # it started and moved on between polls
            lines.append((run.updated_at, run.status))
            self.status = run.status
        for at, line in sorted(lines, key=lambda item: item[0]):
            self.write(f"+{(at - run.created_at).total_seconds():.2f}s {line}".rstrip())
        paused = run.status in (S.INTERACTION_REQUIRED, S.REVIEW_REQUIRED)
        if paused and self.announced != run.updated_at:
            self.announced = run.updated_at
            self._explain_pause(run)
        return run

    def _explain_pause(self, run: TaskRun) -> None:
        url = f"{settings.PUBLIC_URL}/v2/task-runs/{run.id}"
        auth = '-H "Authorization: Bearer $DECK_API_KEY"'
        if run.status == S.REVIEW_REQUIRED:
            self.write("The run awaits review. Its output:")
            self.write(self.masker.json(run.output))
            self.write(f"Approve: curl -X POST {auth} {url}/approve")
            self.write(f"Reject:  curl -X POST {auth} {url}/reject")
            self.write("Still waiting…")
            return
        interaction = self.masker.data(run.interaction or {})
        self.write(
            f"The run needs an answer ({interaction.get('type')}): {interaction.get('message')}"
        )
        fields = interaction.get("fields") or []
        for field in fields:
            self.write(f"  {field.get('name')} ({field.get('type')}): {field.get('label')}")
        body = json.dumps(
            {"input": {field.get("name"): "…" for field in fields}}, ensure_ascii=False
        )
        self.write(
            f"Answer: curl -X POST {auth} -H 'Content-Type: application/json' "
            f"-d '{body}' {url}/interaction"
        )
        self.write("Still waiting…")
