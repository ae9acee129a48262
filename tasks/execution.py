"""The run lifecycle, worker side: claim, execute one slice, finish; and the sweeper that
guarantees no run stays queued or running forever.
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import timedelta
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.db.models import F, Max, Q
from django.utils import timezone
from jsonschema import Draft202012Validator

from deck.redaction import mask_values, redact, redact_data, register_secret, secret_strings
from deck.vault.services import vault_reveal
from storage.schemas import storage_summary
from storage.selectors import (
    run_awaits_scans,
    run_extraction_failures,
    run_is_extraction,
    runs_awaiting_scans,
)
from storage.services import run_attachments, run_extraction_execute, storage_capture
from tasks.agent.runtime import (
    AgentFailure,
    InteractionNeeded,
    RunCanceled,
    RunContext,
    RunTimedOut,
    agent_run,
)
from tasks.errors import InvalidInput
from tasks.models import Credential, Entity, RunStep, Session, TaskRun
from tasks.runs import (
    run_dispatch,
    run_transition,
    session_release,
    session_transition,
    sessions_end_idle,
    task_record_success,
)
from tasks.selectors import playbook_latest
from tasks.services import (
    LLM_API_KEY_PURPOSE,
    MAX_ENTITIES_PER_RECORD,
    credential_mark_invalid,
    credential_mark_verified,
    entities_record,
    entity_fields,
    playbook_record,
)

logger = logging.getLogger(__name__)

S = TaskRun.Status
BUSY = "busy"


def _error(type: str, code: str, message: str) -> dict[str, str]:
    return {"type": type, "code": code, "message": message}


# -- claim --------------------------------------------------------------------------------


def run_claim(run_id: str) -> TaskRun | str | None:
    """Atomic: queued → running for exactly one caller. Returns the run, ``BUSY`` when another
    run drives the same credential (the source must never see two at once), or None."""
    now = timezone.now()
    with transaction.atomic():
        run = TaskRun.objects.select_related("task").filter(pk=run_id).first()
        if run is None or run.status != S.QUEUED or run_awaits_scans(run_id=run_id):
            return None
        if run.credential_id:
            # The credential row lock serializes claims on one credential across workers.
            Credential.objects.select_for_update().filter(pk=run.credential_id).first()
            # A fan-out parent is "running" without driving anything: held runs never do.
            driving = TaskRun.objects.filter(
                credential_id=run.credential_id, status__in=[S.RUNNING, S.CANCELING], held=False
            ).exclude(pk=run_id)
            if driving.exists():
                return BUSY
        deadline = run.deadline_at or now + timedelta(seconds=run.task.timeout_seconds)
        claimed = run_transition(
            run_id,
            from_statuses=[S.QUEUED],
            to=S.RUNNING,
            attempts=F("attempts") + 1,
            started_at=run.started_at or now,
            deadline_at=deadline,
            heartbeat_at=now,
        )
        if claimed is None:
            return None
        if claimed.session_id:
            session_transition(
                claimed.session_id,
                from_statuses=[Session.Status.QUEUED, Session.Status.IDLE],
                to=Session.Status.RUNNING,
                last_active_at=now,
            )
    return claimed


# -- execution ----------------------------------------------------------------------------


class Heartbeat:
    """Writes ``heartbeat_at`` from a side thread while the agent works, so a long step is
    not mistaken for a dead worker."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{run_id}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _beat(self) -> None:
        try:
            while not self._stop.wait(settings.DECK_RUN_HEARTBEAT_SECONDS):
                TaskRun.objects.filter(pk=self.run_id, status__in=[S.RUNNING, S.CANCELING]).update(
                    heartbeat_at=timezone.now()
                )
        finally:
            connection.close()  # this thread's own connection


def _checkpoint(run: TaskRun) -> None:
    now = timezone.now()
    alive = TaskRun.objects.filter(pk=run.pk, status=S.RUNNING).update(heartbeat_at=now)
    if not alive:
        status = TaskRun.objects.filter(pk=run.pk).values_list("status", flat=True).first()
        if status == S.CANCELING:
            raise RunCanceled()
        raise RunTimedOut() if status == S.FAILED else RunCanceled()
    if run.deadline_at and now >= run.deadline_at:
        raise RunTimedOut()


def _step_recorder(run: TaskRun) -> Any:
    last = RunStep.objects.filter(run=run).aggregate(last=Max("sequence"))["last"] or 0
    counter = {"sequence": last}

    def step(
        tool: str,
        detail: dict[str, Any] | None = None,
        *,
        reasoning: str = "",
        duration_ms: int | None = None,
        screenshot: bytes | None = None,
    ) -> None:
        counter["sequence"] += 1
        # Belt and braces: the harness masks typed secrets; anything the vault revealed in
        # this process is masked here too before it is stored.
        clean = redact_data(json.loads(json.dumps(detail or {}, default=str)))
        name = ""
        if screenshot:
            name = default_storage.save(
                f"screenshots/{run.organization_id}/{run.id}/{counter['sequence']}.png",
                ContentFile(screenshot),
            )
        RunStep.objects.create(
            run=run,
            sequence=counter["sequence"],
            tool=tool,
            detail=clean,
            reasoning=redact(reasoning),
            duration_ms=duration_ms,
            screenshot=name,
        )
        _checkpoint(run)

    return step


def _capture(run_id: str) -> Any:
    def capture(*, file_name: str, content_type: str, data: bytes) -> dict[str, Any] | None:
        """A file the agent downloaded → storage; its summary, or None when it was dropped
        (storage off, or a duplicate of an earlier capture)."""
        item = storage_capture(
            run_id=run_id, file_name=file_name, content_type=content_type, data=data
        )
        return None if item is None else json.loads(json.dumps(storage_summary(item), default=str))

    return capture


def _context(run: TaskRun, attachments: dict[str, dict[str, Any]] | None = None) -> RunContext:
    organization = run.organization
    secrets: set[str] = set()

    def reveal(token: str, purpose: str) -> str:
        value = vault_reveal(organization=organization, token_id=token, purpose=purpose)
        secrets.add(value)
        return value

    def reveal_json(token: str, purpose: str) -> Any:
        value = json.loads(reveal(token, purpose))
        for text in secret_strings(value):
            register_secret(text)
            secrets.add(text)
        return value

    restored = dict(run.input)
    input_tokens = run.input_tokens
    if run.parent_id and not input_tokens:
        # A fan-out child runs on its parent's input: the parent holds the vault tokens
        # until its last child has ended.
        input_tokens = (
            TaskRun.objects.filter(pk=run.parent_id).values_list("input_tokens", flat=True).first()
            or {}
        )
    for name, token in input_tokens.items():
        restored[name] = reveal_json(token, "task_run.input")

    def reveal_answer(token: str) -> Any:
        stored = json.loads(reveal(token, "task_run.interaction"))
        if isinstance(stored, dict) and set(stored) == {"type", "answer"}:
            kind, answer = stored["type"], stored["answer"]
        else:  # stored before answers carried their interaction's type
            kind, answer = None, stored
        if kind != "account_selection":
            for text in secret_strings(answer):
                register_secret(text)
                secrets.add(text)
        return answer

    answers = [reveal_answer(token) for token in run.interaction_answers]
    credential = run.credential

    def credential_secret(name: str) -> str | None:
        """Revealed only when the agent asks, at the moment it needs the value."""
        if credential is None:
            return None
        if name == "username":
            return credential.username or None
        token = {
            "password": credential.password_token,
            "totp_secret": credential.totp_token,
            "source_fields": credential.source_fields_token,
        }.get(name)
        if not token:
            return None
        value = vault_reveal(
            organization=organization, token_id=token, purpose=f"credential.{name}"
        )
        secrets.add(value)
        return value

    def record_entities(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Records what a login showed; each item comes back with its ``id``. An item Deck
        cannot store comes back with ``id: None`` and an ``error`` (one bad row of a scraped
        list must not cost the run), and without a credential nothing is recorded: entities
        belong to a login."""
        # A secret the agent copied into what it found must not be stored with it.
        found = redact_data(mask_values(list(found), secrets))
        results: list[dict[str, Any]] = []
        for index, item in enumerate(found):
            try:
                results.append(entity_fields(item, where=f"found[{index}]"))
            except InvalidInput as exc:
                shown = dict(item) if isinstance(item, dict) else {"value": item}
                results.append({**shown, "id": None, "error": exc.message})
        valid = [item for item in results if "error" not in item]
        if len(valid) < len(results):
            logger.info(
                "Run %s: %d of %d entities could not be stored",
                run.id,
                len(results) - len(valid),
                len(results),
            )
        if credential is None:
            return [{**item, "id": None} for item in results]
        by_key: dict[tuple[str, str], dict[str, Any]] = {}
        for start in range(0, len(valid), MAX_ENTITIES_PER_RECORD):
            chunk = valid[start : start + MAX_ENTITIES_PER_RECORD]
            for entity in entities_record(credential_id=credential.id, found=chunk):
                by_key[(entity.type, entity.external_id)] = _entity_summary(entity)
        return [
            item if "error" in item else by_key[(item["type"], item["external_id"])]
            for item in results
        ]

    verified = {"done": False}

    def login_verified() -> None:
        if credential is not None and not verified["done"]:
            credential_mark_verified(credential_id=credential.id)
            verified["done"] = True

    agent = run.agent

    def llm_settings() -> dict[str, str]:
        """The agent's endpoint, model and key, else the deployment's. The deployment's key
        goes only to the deployment's endpoint: an agent pointing elsewhere brings its own."""
        base_url = agent.llm_base_url or settings.DECK_LLM_BASE_URL
        api_key = ""
        if agent.llm_api_key_token:
            api_key = reveal(agent.llm_api_key_token, LLM_API_KEY_PURPOSE)
        elif base_url == settings.DECK_LLM_BASE_URL and settings.DECK_LLM_API_KEY:
            api_key = settings.DECK_LLM_API_KEY
            register_secret(api_key)
            secrets.add(api_key)
        return {
            "base_url": base_url.rstrip("/"),
            "model": agent.llm_model or settings.DECK_LLM_MODEL,
            "api_key": api_key,
        }

    scoped = Entity.objects.filter(pk__in=run.entity_ids, credential_id=run.credential_id)
    by_id = {entity.id: entity for entity in scoped} if run.entity_ids else {}
    entities = [_entity_summary(by_id[i]) for i in run.entity_ids if i in by_id]

    task = run.task
    playbook = None
    if task.status in (task.Status.TEST, task.Status.LIVE):
        latest = playbook_latest(task_id=task.id, source_id=run.source_id)
        if latest is not None:
            playbook = {"version": latest.version, "steps": latest.steps}
    return RunContext(
        run_id=run.id,
        organization_id=run.organization_id,
        task_id=task.id,
        task_name=task.name,
        prompt=task.prompt,
        input_schema=task.input_schema,
        output_schema=task.output_schema,
        input=restored,
        source_url=run.source.url,
        session_id=run.session_id,
        credential_id=run.credential_id,
        checkpoint=lambda: _checkpoint(run),
        step=_step_recorder(run),
        answers=answers,
        credential_secret=credential_secret,
        secrets=secrets,
        source_id=run.source_id,
        agent_id=run.agent_id,
        agent_planner=run.agent.planner,
        task_status=task.status,
        storage_settings=task.storage,
        entities=entities,
        record_entities=record_entities,
        login_verified=login_verified,
        llm_settings=llm_settings,
        attachments=attachments or {},
        capture=_capture(run.id),
        playbook=playbook,
    )


def _entity_summary(entity: Entity) -> dict[str, Any]:
    return {
        "id": entity.id,
        "type": entity.type,
        "external_id": entity.external_id,
        "name": entity.name,
        "attributes": entity.attributes,
    }


def run_execute(run_id: str) -> str:
    """Claims the run and executes it until it finishes, pauses or stops. Safe under
    duplicate delivery: only the caller that wins the claim executes."""
    claimed = run_claim(run_id)
    if claimed == BUSY:
        return BUSY
    if not isinstance(claimed, TaskRun):
        return "skipped"
    run = TaskRun.objects.select_related(
        "task", "source", "credential", "organization", "agent"
    ).get(pk=claimed.pk)
    if run_is_extraction(run_id=run.id):
        # Seed 002: extraction-purpose runs skip the agent. Normally the storage job runs
        # them; this path picks up one the sweeper requeued after its worker was lost.
        with Heartbeat(run.id):
            return run_extraction_execute(run=run)
    with Heartbeat(run.id), run_attachments(run=run) as attachments:
        context = _context(run, attachments)
        try:
            # An agent that copies a secret into its output must not get it stored.
            output = mask_values(agent_run(context), context.secrets)
        except InteractionNeeded as exc:
            _pause(run, exc.interaction)
            return "interaction_required"
        except RunCanceled:
            _finish_canceled(run)
            return "canceled"
        except (RunTimedOut, SoftTimeLimitExceeded):
            _fail(run, _error("task", "timeout", "The run exceeded settings.timeout_seconds."))
            return "timeout"
        except AgentFailure as exc:
            _fail(run, exc.as_error())
            return "failed"
        except Exception as exc:
            logger.exception("Agent crashed on run %s", run.id)
            _fail(
                run,
                _error(
                    "api", "agent_error", f"The agent stopped unexpectedly ({type(exc).__name__})."
                ),
            )
            return "failed"
    _complete(run, output, context=context)
    return "finished"


def _finished_fields(run: TaskRun) -> dict[str, Any]:
    now = timezone.now()
    started = run.started_at or now
    return {"finished_at": now, "runtime_ms": int((now - started).total_seconds() * 1000)}


def _complete(run: TaskRun, output: Any, *, context: RunContext | None = None) -> None:
    failures = run_extraction_failures(run_id=run.id)
    # An extraction run whose file failed has no output to check.
    problems = [] if failures and output is None else _output_problems(run, output)
    if problems:
        _fail(
            run,
            _error(
                "task",
                "output_invalid",
                "The output does not match output_schema: " + "; ".join(problems[:5]),
            ),
        )
        return
    if failures:
        # Seed 002: the run completes with a failure result and says how many files failed;
        # the files that were extracted keep their data.
        error = _error("storage", "extraction_failed", f"{failures} file(s) failed extraction")
        moved = run_transition(
            run.id,
            from_statuses=[S.RUNNING],
            to=S.COMPLETED,
            output=output,
            result=TaskRun.Result.FAILURE,
            errors=[*run.errors, error],
            **_finished_fields(run),
        )
        if moved is None:
            _finish_canceled(run)
            return
        session_release(moved)
        return
    to = S.REVIEW_REQUIRED if run.task.review_required else S.COMPLETED
    fields: dict[str, Any] = {"output": output, "result": TaskRun.Result.SUCCESS}
    if to == S.COMPLETED:
        fields |= _finished_fields(run)
    moved = run_transition(run.id, from_statuses=[S.RUNNING], to=to, **fields)
    if moved is None:
        _finish_canceled(run)
        return
    if to == S.COMPLETED:
        if context is not None and context.learned:
            _learn(moved, context)
        task_record_success(task_id=run.task_id)
    session_release(moved)


def _learn(run: TaskRun, context: RunContext) -> None:
    """A successful run's actions become the next playbook version; a failure to record one
    is logged and never fails the run that already succeeded."""
    learned = context.learned or {}
    try:
        playbook_record(
            run=run,
            steps=learned["steps"],
            healed_from_version=learned.get("healed_from_version"),
            secrets=context.secrets,
        )
    except Exception:
        logger.exception("Could not record the playbook of run %s", run.id)


def _output_problems(run: TaskRun, output: Any) -> list[str]:
    if not isinstance(output, dict):
        return ["the agent returned no object"]
    validator = Draft202012Validator(run.task.output_schema)
    return [
        f"{'.'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
        for e in validator.iter_errors(output)
    ]


def run_complete(run: TaskRun, output: Any) -> None:
    """Finish a running run with ``output`` (checked against output_schema), for work done
    outside the agent (extraction-purpose runs)."""
    _complete(run, output)


def run_fail(run: TaskRun, error: dict[str, str]) -> bool:
    return _fail(run, error)


def _fail(
    run: TaskRun,
    error: dict[str, str],
    *,
    from_statuses: tuple[str, ...] = (S.RUNNING, S.CANCELING),
    **fields: Any,
) -> bool:
    """Fail the run if it is still in ``from_statuses``, and free its session. A source that
    rejected the login also marks the credential invalid, in the same transaction."""
    with transaction.atomic():
        moved = run_transition(
            run.id,
            from_statuses=from_statuses,
            to=S.FAILED,
            result=TaskRun.Result.FAILURE,
            errors=[*run.errors, error],
            **_finished_fields(run),
            **fields,
        )
        rejected = (error.get("type"), error.get("code")) == ("source", "auth_invalid")
        if moved is not None and rejected and moved.credential_id:
            credential_mark_invalid(credential_id=moved.credential_id)
    if moved is not None:
        session_release(moved)
    return moved is not None


def _finish_canceled(run: TaskRun) -> None:
    moved = run_transition(
        run.id, from_statuses=[S.CANCELING, S.RUNNING], to=S.CANCELED, **_finished_fields(run)
    )
    if moved is not None:
        session_release(moved)


def _pause(run: TaskRun, interaction: dict[str, Any]) -> None:
    window = run.source.interaction_timeout_seconds or settings.DECK_INTERACTION_TIMEOUT_SECONDS
    moved = run_transition(
        run.id,
        from_statuses=[S.RUNNING],
        to=S.INTERACTION_REQUIRED,
        interaction=interaction,
        interaction_expires_at=timezone.now() + timedelta(seconds=window),
    )
    if moved is None:
        _finish_canceled(run)


# -- the sweeper --------------------------------------------------------------------------


def runs_sweep() -> dict[str, int]:
    """Beat: time out, recover, expire and re-publish runs. Idempotent; every change is a
    conditional transition, so two sweepers (or a sweeper and a worker) never both win."""
    now = timezone.now()
    counts = {"timed_out": 0, "requeued": 0, "lost": 0, "expired": 0, "dispatched": 0}

    overdue = TaskRun.objects.filter(
        deadline_at__lt=now, status__in=[S.QUEUED, S.RUNNING, S.INTERACTION_REQUIRED]
    ).filter(Q(started_at__isnull=False))
    for run in overdue:
        error = _error("task", "timeout", "The run exceeded settings.timeout_seconds.")
        counts["timed_out"] += _fail(run, error, from_statuses=(run.status,))

    lost_before = now - timedelta(seconds=settings.DECK_RUN_LOST_AFTER_SECONDS)
    for run in TaskRun.objects.filter(
        status__in=[S.RUNNING, S.CANCELING], heartbeat_at__lt=lost_before
    ):
        if run.status == S.CANCELING:
            if run_transition(
                run.id, from_statuses=[S.CANCELING], to=S.CANCELED, **_finished_fields(run)
            ):
                session_release(run)
        elif run.attempts < settings.DECK_RUN_MAX_ATTEMPTS:
            if run_transition(
                run.id,
                from_statuses=[S.RUNNING],
                to=S.QUEUED,
                # Only the stale heartbeat we judged: a beat that just arrived wins.
                where=Q(heartbeat_at__lt=lost_before),
                heartbeat_at=None,
                dispatched_at=None,
            ):
                counts["requeued"] += 1
        else:
            error = _error(
                "api",
                "worker_lost",
                f"The worker running this task stopped {run.attempts} times; giving up.",
            )
            counts["lost"] += _fail(run, error, from_statuses=(S.RUNNING,))

    for run in TaskRun.objects.filter(
        status=S.INTERACTION_REQUIRED, interaction_expires_at__lt=now
    ):
        error = _error(
            "interaction", "interaction_timeout", "Nobody answered the interaction in time."
        )
        counts["expired"] += _fail(
            run, error, from_statuses=(S.INTERACTION_REQUIRED,), interaction=None
        )

    # The outbox: queued runs whose publish failed, or whose message was lost.
    unpublished = Q(dispatched_at__isnull=True, updated_at__lt=now - timedelta(seconds=2))
    stale = Q(dispatched_at__lt=now - timedelta(seconds=settings.DECK_RUN_REDISPATCH_SECONDS))
    # Attachment runs wait for their malware scans; the last clean scan dispatches them.
    waiting = runs_awaiting_scans()
    for run_id in (
        # Held fan-out children wait for a slot (tasks.fanout releases them), not a publish.
        TaskRun.objects.filter(unpublished | stale, status=S.QUEUED, held=False)
        .exclude(waiting)
        .values_list("id", flat=True)[:1000]
    ):
        counts["dispatched"] += run_dispatch(run_id)

    counts["sessions_ended"] = sessions_end_idle()
    from tasks.fanout import fanouts_sweep  # tasks.fanout imports the lifecycle modules

    counts["fanouts_canceled"] = fanouts_sweep()
    return counts
