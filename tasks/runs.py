"""The run lifecycle, API side: create, dispatch, cancel, answer, review, end sessions.

Every status change is a conditional update (``filter(status__in=…).update(…)``) plus its
event, in one transaction: whoever loses a race changes nothing and writes no event.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from jsonschema import Draft202012Validator

from deck.events.services import event_record
from deck.ids import new_run_id
from deck.models import Organization
from deck.vault.services import vault_destroy, vault_store
from storage.inputs import (
    FileInput,
    file_inputs_attach,
    file_inputs_parse,
    file_inputs_reference,
    file_inputs_stage,
    files_discard,
)
from storage.models import StorageItem
from storage.selectors import run_awaits_scans
from tasks import selectors
from tasks.definitions import file_inputs
from tasks.errors import (
    InvalidInput,
    InvalidInputs,
    NotFound,
    SessionLimitExceeded,
    StateConflict,
    StorageConfigIncomplete,
)
from tasks.models import STAGE_SUCCESSES_REQUIRED, Credential, Session, Source, Task, TaskRun
from tasks.schemas import run_event_data, session_representation, task_representation

logger = logging.getLogger(__name__)

S = TaskRun.Status
ACTIVE_SESSION_STATUSES = (Session.Status.QUEUED, Session.Status.RUNNING)
DEDUPLICATION_MISSING = (
    "deduplication_schema must be defined before running a task with deduplication enabled."
)


# -- transitions --------------------------------------------------------------------------


def run_transition(
    run_id: str, *, from_statuses: Iterable[str], to: str, where: Q | None = None, **fields: Any
) -> TaskRun | None:
    """Atomic: move the run to ``to`` if it is still in ``from_statuses``, with its event.
    Returns the updated run, or None when another actor moved it first."""
    now = timezone.now()
    with transaction.atomic():
        runs = TaskRun.objects.filter(pk=run_id, status__in=list(from_statuses))
        moved = (runs.filter(where) if where is not None else runs).update(
            status=to, updated_at=now, **fields
        )
        if not moved:
            return None
        run = TaskRun.objects.get(pk=run_id)
        event_record(
            organization_id=run.organization_id, type=f"task_run.{to}", data=run_event_data(run)
        )
        if run.workflow_run_id:
            # In this transaction: the step's end and the next step's start commit together.
            from tasks.workflows import workflow_step_transitioned

            workflow_step_transitioned(run)
        if run.parent_id or run.held:
            # Fan-out: a child's end frees a slot and may end its parent; a parent being
            # canceled cancels its children (tasks.fanout).
            from tasks.fanout import fanout_transitioned

            fanout_transitioned(run)
    if run.is_terminal:
        _forget_secrets(run)
    return run


def _forget_secrets(run: TaskRun) -> None:
    """A finished run needs its tokenized input and interaction answers no more."""
    tokens = list(run.input_tokens.values()) + list(run.interaction_answers)
    if not tokens:
        return
    with transaction.atomic():
        TaskRun.objects.filter(pk=run.pk).update(input_tokens={}, interaction_answers=[])
        vault_destroy(organization=run.organization, token_ids=tokens)


def session_transition(
    session_id: str, *, from_statuses: Iterable[str], to: str, **fields: Any
) -> bool:
    """Atomic: conditional session status change; ``session.running|completed|failed``
    events for the statuses the contract names."""
    now = timezone.now()
    with transaction.atomic():
        moved = Session.objects.filter(pk=session_id, status__in=list(from_statuses)).update(
            status=to, updated_at=now, **fields
        )
        if moved and to in (Session.Status.RUNNING, *Session.ENDED):
            session = Session.objects.get(pk=session_id)
            event_record(
                organization_id=session.organization_id,
                type=f"session.{to}",
                data=session_representation(session),
            )
    return bool(moved)


# -- creation -----------------------------------------------------------------------------


def input_errors(schema: Mapping[str, Any], value: Any) -> list[InvalidInput]:
    """Every violation of ``schema`` by ``value``, each with its path under ``input``.

    jsonschema quotes the offending value in its messages; for a tokenized field that value
    is a secret, so its message names the rule broken instead.
    """
    tokenized = set(schema.get("tokenized") or [])
    files = set(file_inputs(schema))
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    errors = []
    for error in sorted(validator.iter_errors(value), key=lambda e: list(map(str, e.path))):
        path = "input" + "".join(
            f"[{part}]" if isinstance(part, int) else f".{part}" for part in error.absolute_path
        )
        if error.validator == "required" and isinstance(error.instance, dict):
            missing = [name for name in error.validator_value if name not in error.instance]
            path += f".{missing[0]}" if missing else ""
        message = error.message
        if error.absolute_path and error.absolute_path[0] in tokenized:
            message = f"the value does not satisfy {error.validator!r} (value withheld: tokenized)"
        elif (
            error.absolute_path
            and error.absolute_path[0] in files
            and error.validator != "required"
        ):
            # A file's message would quote its (megabytes of) base64.
            message = f"the file does not satisfy {error.validator!r}"
        errors.append(InvalidInput(f"{path}: {message}", field=path))
    return errors


def _resolve_target(
    organization: Organization,
    *,
    credential_id: str | None,
    source_id: str | None,
    session_id: str | None,
) -> tuple[Source, Credential | None, Session | None]:
    if session_id:
        session = Session.objects.filter(organization=organization, pk=session_id).first()
        if session is None:
            raise NotFound("session", session_id, field="session_id")
        if session.status in Session.ENDED:
            raise StateConflict("This session has ended; start a new one.", field="session_id")
        credential = session.credential
        if credential_id and credential_id != session.credential_id:
            raise InvalidInput("credential_id does not match the session's.", field="credential_id")
        return session.source, credential, session
    if credential_id:
        credential = (
            Credential.objects.filter(organization=organization, pk=credential_id)
            .select_related("source")
            .first()
        )
        if credential is None:
            raise NotFound("credential", credential_id, field="credential_id")
        if source_id and source_id != credential.source_id:
            raise InvalidInput("source_id does not match the credential's.", field="source_id")
        return credential.source, credential, None
    if source_id:
        return (
            selectors.source_get(organization=organization, source_id=source_id, field="source_id"),
            None,
            None,
        )
    raise InvalidInput(
        "One of credential_id, source_id or session_id is required.", field="credential_id"
    )


def run_create(
    *,
    organization: Organization,
    task_id: str,
    input: Mapping[str, Any],
    credential_id: str | None = None,
    source_id: str | None = None,
    session_id: str | None = None,
    entity_ids: list[str] | None = None,
    entity_filter: Mapping[str, Any] | None = None,
    links: Mapping[str, Any] | None = None,
) -> TaskRun:
    """Atomic: validates everything first, then writes the session, the run (tokenized
    fields already in the vault) and ``task_run.queued`` together; the job is published
    after commit, and the outbox sweeper publishes it if that fails. ``links`` are TaskRun
    fields set by the caller, not the request (a workflow step's ``workflow_run``…).

    Several entities (``entity_ids`` with more than one, or an ``entity_filter``) make a
    fan-out: a parent run with one child run per entity (tasks.fanout)."""
    if entity_filter is not None or len(set(entity_ids or [])) > 1:
        from tasks.fanout import fanout_create

        return fanout_create(
            organization=organization,
            task_id=task_id,
            input=input,
            credential_id=credential_id,
            source_id=source_id,
            session_id=session_id,
            entity_ids=entity_ids,
            entity_filter=entity_filter,
        )
    task = selectors.task_get(organization=organization, task_id=task_id)
    storage = task.storage
    if storage.get("deduplication") and not (storage.get("deduplication_schema") or {}).get(
        "properties"
    ):
        raise StorageConfigIncomplete(DEDUPLICATION_MISSING)
    errors = input_errors(task.input_schema, dict(input))
    if errors:
        raise InvalidInputs(errors)
    files = file_inputs_parse(
        organization=organization, input_schema=task.input_schema, input=input
    )
    source, credential, session = _resolve_target(
        organization, credential_id=credential_id, source_id=source_id, session_id=session_id
    )
    # Entities come from this credential's logins; anyone else's are unknown here.
    entities = selectors.entities_for_run(
        organization=organization,
        credential_id=credential.id if credential else None,
        entity_ids=list(dict.fromkeys(entity_ids or [])),
    )
    purposes = {file.purpose for file in files}
    # Seed 002: an extraction run skips the agent, so it needs no browser session.
    extraction = "extraction" in purposes
    run_id = new_run_id()
    # The files are written before the transaction (slow I/O stays outside it) and removed
    # again if the run is not created after all.
    staged = file_inputs_stage(
        organization=organization,
        run_id=run_id,
        task_id=task.id,
        credential_id=credential.id if credential else None,
        files=files,
    )
    try:
        run = _run_store(
            organization=organization,
            task=task,
            run_id=run_id,
            input=input,
            source=source,
            credential=credential,
            session=session,
            staged=staged,
            extraction=extraction,
            entity_ids=[entity.id for entity in entities],
            links=links or {},
        )
    except BaseException:
        files_discard(item for _, item in staged)
        raise
    return run


def _run_store(
    *,
    organization: Organization,
    task: Task,
    run_id: str,
    input: Mapping[str, Any],
    source: Source,
    credential: Credential | None,
    session: Session | None,
    staged: list[tuple[FileInput, StorageItem]],
    extraction: bool,
    entity_ids: list[str],
    links: Mapping[str, Any],
) -> TaskRun:
    with transaction.atomic():
        if session is None and not extraction:
            active = Session.objects.filter(
                organization=organization, status__in=ACTIVE_SESSION_STATUSES
            ).count()
            if active >= settings.DECK_SESSION_LIMIT:
                raise SessionLimitExceeded(
                    f"This organization already has {active} active sessions "
                    f"(limit {settings.DECK_SESSION_LIMIT}); retry when some finish."
                )
            session = Session.objects.create(
                organization=organization, source=source, credential=credential
            )
        stored_input = dict(input)
        tokens = {}
        for name in task.tokenized_fields:
            if name in stored_input:
                tokens[name] = vault_store(
                    organization=organization,
                    purpose="task_run.input",
                    plaintext=json.dumps(stored_input.pop(name)),
                )
        file_inputs_reference(staged=staged, stored_input=stored_input)
        run = TaskRun.objects.create(
            id=run_id,
            organization=organization,
            task=task,
            agent_id=task.agent_id,
            source=source,
            credential=credential,
            session=session,
            entity_ids=entity_ids,
            input=stored_input,
            tokenized=sorted(tokens),
            input_tokens=tokens,
            **links,
        )
        file_inputs_attach(run=run, staged=staged)
        event_record(
            organization_id=organization.id, type="task_run.queued", data=run_event_data(run)
        )
        if extraction:
            # Seed 002: an extraction run is running as soon as its file is stored; it does
            # not wait in the queue for the malware scan.
            now = timezone.now()
            moved = run_transition(
                run.id,
                from_statuses=[S.QUEUED],
                to=S.RUNNING,
                started_at=now,
                deadline_at=now + timedelta(seconds=task.timeout_seconds),
                heartbeat_at=now,
                dispatched_at=now,
            )
            run = moved or run
        transaction.on_commit(lambda: run_files_dispatch(run.id, staged=staged))
    return run


def run_files_dispatch(run_id: str, *, staged: list[tuple[FileInput, StorageItem]]) -> None:
    """After commit: scan every stored file; an extraction run starts extracting, an
    attachment run waits for its scans (the last clean one dispatches it), any other run is
    dispatched now."""
    from storage.jobs import extract_run_publish, scan_publish

    for _, item in staged:
        scan_publish(item.id)
    purposes = {item.purpose for _, item in staged}
    if "extraction" in purposes:
        extract_run_publish(run_id)
    elif "attachment" not in purposes:
        run_dispatch(run_id)


def run_dispatch(run_id: str, *, countdown: float = 0) -> bool:
    """Publish ``execute_run`` for a queued run; records ``dispatched_at`` on success.
    Never raises: a failed publish is logged and left to the outbox sweeper. A run whose
    attachments have not all passed the malware scan is not published (seed 002)."""
    from tasks.jobs import execute_run

    run = (
        TaskRun.objects.filter(pk=run_id, status=S.QUEUED, held=False)
        .select_related("task")
        .first()
    )
    if run is None or run_awaits_scans(run_id=run_id):
        return False
    remaining = _remaining_seconds(run)
    try:
        execute_run.apply_async(
            args=(run_id,),
            countdown=countdown,
            # The hard limit is the run's remaining time plus a margin for finishing up, so a
            # wedged worker is killed before the deadline sweep would even notice.
            soft_time_limit=remaining + 5,
            time_limit=remaining + 30,
            retry=True,
            retry_policy=settings.DECK_PUBLISH_RETRY_POLICY,
        )
    except Exception:
        logger.warning("Could not publish run %s; the sweeper will retry", run_id, exc_info=True)
        return False
    TaskRun.objects.filter(pk=run_id).update(dispatched_at=timezone.now())
    return True


def _remaining_seconds(run: TaskRun) -> int:
    if run.deadline_at is None:
        return run.task.timeout_seconds
    return max(1, int((run.deadline_at - timezone.now()).total_seconds()))


# -- person actions -----------------------------------------------------------------------


def run_cancel(*, organization: Organization, run_id: str) -> TaskRun:
    """Queued, paused or in-review runs stop at once; a running run goes to ``canceling``
    and the agent stops at its next checkpoint. Finished runs are a conflict."""
    run = selectors.run_get(organization=organization, run_id=run_id)
    now = timezone.now()
    immediate = (S.QUEUED, S.INTERACTION_REQUIRED, S.REVIEW_REQUIRED)
    moved = run_transition(
        run.id, from_statuses=immediate, to=S.CANCELED, canceled_at=now, finished_at=now
    )
    if moved is None:
        moved = run_transition(run.id, from_statuses=[S.RUNNING], to=S.CANCELING, canceled_at=now)
    if moved is None:
        run.refresh_from_db()
        if run.status == S.CANCELING:
            return run
        raise StateConflict(f"The run is {run.status}; only unfinished runs can be canceled.")
    if moved.status == S.CANCELED:
        session_release(moved)
    return moved


def run_answer(*, organization: Organization, run_id: str, answer: Mapping[str, Any]) -> TaskRun:
    """Checks the answer against the interaction's fields, keeps it in the vault and queues
    the run again; the agent resumes in a worker and may raise a new interaction."""
    run = selectors.run_get(organization=organization, run_id=run_id)
    if run.status != S.INTERACTION_REQUIRED or not run.interaction:
        raise StateConflict(f"The run is {run.status}; it is not waiting for an answer.")
    fields = {field["name"]: field for field in run.interaction.get("fields", [])}
    errors = [
        InvalidInput(f"input.{name} is required.", field=f"input.{name}")
        for name in fields
        if answer.get(name) in (None, "")
    ]
    errors += [
        InvalidInput(f"input.{name} is not a field of this interaction.", field=f"input.{name}")
        for name in answer
        if name not in fields
    ]
    errors += [
        InvalidInput(f"input.{name} must be a string.", field=f"input.{name}")
        for name, value in answer.items()
        if name in fields and value is not None and not isinstance(value, str)
    ]
    if errors:
        raise InvalidInputs(errors)
    # The interaction's type travels with the answer: an MFA code or a security answer is a
    # secret, the account a person picked is not (the output may name it).
    token = vault_store(
        organization=organization,
        purpose="task_run.interaction",
        plaintext=json.dumps({"type": run.interaction.get("type"), "answer": dict(answer)}),
    )
    with transaction.atomic():
        moved = run_transition(
            run.id,
            from_statuses=[S.INTERACTION_REQUIRED],
            to=S.QUEUED,
            interaction=None,
            interaction_expires_at=None,
            interaction_answers=[*run.interaction_answers, token],
            dispatched_at=None,
        )
        if moved is None:
            vault_destroy(organization=organization, token_ids=[token])
            raise StateConflict("The run stopped waiting for an answer.")
        transaction.on_commit(lambda: run_dispatch(run.id))
    return moved


def run_approve(*, organization: Organization, run_id: str) -> TaskRun:
    run = selectors.run_get(organization=organization, run_id=run_id)
    moved = run_transition(
        run.id, from_statuses=[S.REVIEW_REQUIRED], to=S.COMPLETED, finished_at=timezone.now()
    )
    if moved is None:
        raise StateConflict(f"The run is {run.status}; only runs in review can be approved.")
    task_record_success(task_id=moved.task_id)
    return moved


def run_reject(*, organization: Organization, run_id: str, reason: str = "") -> TaskRun:
    run = selectors.run_get(organization=organization, run_id=run_id)
    error = {
        "type": "task",
        "code": "review_rejected",
        "message": reason or "The result was rejected in review.",
    }
    moved = run_transition(
        run.id,
        from_statuses=[S.REVIEW_REQUIRED],
        to=S.FAILED,
        result=TaskRun.Result.FAILURE,
        errors=[*run.errors, error],
        finished_at=timezone.now(),
    )
    if moved is None:
        raise StateConflict(f"The run is {run.status}; only runs in review can be rejected.")
    return moved


def task_record_success(*, task_id: str) -> None:
    """Atomic under the task's row lock, so concurrent successes are all counted and a
    stage is crossed exactly once."""
    with transaction.atomic():
        task = Task.objects.select_for_update().filter(pk=task_id).first()
        if task is None:
            return
        next_status = Task.NEXT_STATUS.get(Task.Status(task.status))
        if next_status is None:
            return
        task.stage_successes += 1
        if task.stage_successes >= STAGE_SUCCESSES_REQUIRED:
            task.status, task.stage_successes = next_status, 0
            task.save(update_fields=["status", "stage_successes", "updated_at"])
            event_record(
                organization_id=task.organization_id,
                type="task.updated",
                data=task_representation(task),
            )
        else:
            task.save(update_fields=["stage_successes", "updated_at"])


# -- sessions -----------------------------------------------------------------------------


def session_release(run: TaskRun) -> None:
    """After a run stops working on its session, the session waits idle for the next one."""
    if run.session_id:
        session_transition(
            run.session_id,
            from_statuses=[Session.Status.QUEUED, Session.Status.RUNNING],
            to=Session.Status.IDLE,
            last_active_at=timezone.now(),
        )


def session_end(*, organization: Organization, session_id: str) -> Session:
    """Ends the session and cancels every unfinished run on it. Idempotent."""
    session = Session.objects.filter(organization=organization, pk=session_id).first()
    if session is None:
        raise NotFound("session", session_id)
    now = timezone.now()
    for run_id in (
        TaskRun.objects.filter(session=session)
        .exclude(status__in=TaskRun.TERMINAL)
        .values_list("id", flat=True)
    ):
        if (
            run_transition(
                run_id,
                from_statuses=[S.QUEUED, S.INTERACTION_REQUIRED, S.REVIEW_REQUIRED],
                to=S.CANCELED,
                canceled_at=now,
                finished_at=now,
            )
            is None
        ):
            run_transition(run_id, from_statuses=[S.RUNNING], to=S.CANCELING, canceled_at=now)
    session_transition(
        session.id,
        from_statuses=[Session.Status.QUEUED, Session.Status.RUNNING, Session.Status.IDLE],
        to=Session.Status.COMPLETED,
        ended_at=now,
    )
    session.refresh_from_db()
    return session


def sessions_end_idle() -> int:
    """Beat: ends sessions idle for longer than DECK_SESSION_IDLE_SECONDS. Idempotent."""
    cutoff = timezone.now() - timedelta(seconds=settings.DECK_SESSION_IDLE_SECONDS)
    ended = 0
    for session_id in Session.objects.filter(
        status=Session.Status.IDLE, last_active_at__lt=cutoff
    ).values_list("id", flat=True):
        ended += session_transition(
            session_id,
            from_statuses=[Session.Status.IDLE],
            to=Session.Status.COMPLETED,
            ended_at=timezone.now(),
        )
    return ended
