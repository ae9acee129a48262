"""Workflows (seed 000): tasks chained in order, in one session with one credential.

A workflow's steps map their input from the workflow input and the outputs of earlier steps
(JSON Pointers into ``{"input": …, "steps": [output of step 0, …]}``) or from constants;
the mappings are checked against the schemas when the workflow is saved. A workflow run
executes its steps as ordinary task runs linked by ``workflow_run``, one after another: the
run lifecycle calls ``workflow_step_transitioned`` inside the transaction of every status
change of a step run, so a step's end and the next step's start commit together, and the
workflow run's ``current_run`` moves by a conditional update (a duplicate delivery of a
step's end finds it moved already and starts nothing).
"""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Iterable, Mapping
from typing import Any

import jsonpointer
from django.db import transaction
from django.utils import timezone
from jsonschema import Draft202012Validator

from deck.events.services import event_record
from deck.models import Organization
from deck.vault.services import vault_destroy, vault_reveal, vault_store
from tasks import definitions, selectors
from tasks.errors import DeckError, InvalidInput, InvalidInputs, StateConflict
from tasks.models import Task, TaskRun, Workflow, WorkflowRun
from tasks.runs import input_errors, run_cancel, run_create
from tasks.schemas import workflow_representation, workflow_run_event_data

W = WorkflowRun.Status
S = TaskRun.Status
MAX_STEPS = 50
MAX_ATTEMPTS = 5  # a retried step runs at most this many times
FAILURE_BEHAVIORS = ("stop", "continue", "retry")
STEP_KEYS = frozenset({"task_id", "input_mapping", "failure_behavior", "max_attempts"})
_MISSING = object()


# -- definition checks --------------------------------------------------------------------


def _pointer_tokens(pointer: str, *, field: str) -> list[str]:
    try:
        return list(jsonpointer.JsonPointer(pointer).parts)
    except jsonpointer.JsonPointerException as exc:
        raise InvalidInput(
            f"{field}: {pointer!r} is not a JSON Pointer ({exc}).", field=field
        ) from exc


def _schema_at(schema: Any, tokens: Iterable[str]) -> Any:
    """The subschema a pointer reaches inside ``schema``, or None when it declares no such
    place (a property not in ``properties``, an index into a non-array)."""
    for token in tokens:
        if not isinstance(schema, Mapping):
            return None
        properties = schema.get("properties") or {}
        if token in properties:
            schema = properties[token]
        elif token.isdigit() and isinstance(schema.get("items"), Mapping):
            schema = schema["items"]
        else:
            return None
    return schema


def _types(schema: Any) -> set[str] | None:
    kind = schema.get("type") if isinstance(schema, Mapping) else None
    if kind is None:
        return None
    found = {kind} if isinstance(kind, str) else set(kind)
    return found | {"number"} if "integer" in found else found


def _compatible(source: Any, target: Any) -> bool:
    """Some value of the source type may satisfy the target type (integer fits number;
    either side without a declared type fits anything); the run checks the actual value."""
    source_types, target_types = _types(source), _types(target)
    if source_types is None or target_types is None:
        return True
    return bool(source_types & target_types)


def _step_check(
    step: Any,
    *,
    index: int,
    tasks: list[Task],
    input_schema: Mapping[str, Any],
    organization: Organization,
) -> dict[str, Any]:
    where = f"steps[{index}]"
    if not isinstance(step, Mapping):
        raise InvalidInput(f"{where} must be an object.", field=where)
    unknown = sorted(set(step) - STEP_KEYS)
    if unknown:
        raise InvalidInput(
            f"{where}.{unknown[0]} is not a step field.", field=f"{where}.{unknown[0]}"
        )
    task_id = step.get("task_id")
    if not isinstance(task_id, str) or not task_id:
        raise InvalidInput(f"{where}.task_id is required.", field=f"{where}.task_id")
    task = Task.objects.filter(organization=organization, pk=task_id).first()
    if task is None:
        raise InvalidInput(
            f"{where}.task_id: no task with id {task_id!r}.", field=f"{where}.task_id"
        )
    behavior = step.get("failure_behavior", "stop")
    if behavior not in FAILURE_BEHAVIORS:
        raise InvalidInput(
            f"{where}.failure_behavior must be one of {', '.join(FAILURE_BEHAVIORS)}.",
            field=f"{where}.failure_behavior",
        )
    attempts = step.get("max_attempts", 3 if behavior == "retry" else 1)
    if (
        not isinstance(attempts, int)
        or isinstance(attempts, bool)
        or not 1 <= attempts <= MAX_ATTEMPTS
    ):
        raise InvalidInput(
            f"{where}.max_attempts must be an integer between 1 and {MAX_ATTEMPTS}.",
            field=f"{where}.max_attempts",
        )
    mapping = step.get("input_mapping", {})
    if not isinstance(mapping, Mapping):
        raise InvalidInput(
            f"{where}.input_mapping must be an object.", field=f"{where}.input_mapping"
        )
    targets = task.input_schema.get("properties") or {}
    tokenized_targets = set(task.tokenized_fields)
    tokenized_sources = set(input_schema.get("tokenized") or [])
    for name, source in mapping.items():
        field = f"{where}.input_mapping.{name}"
        if name not in targets:
            raise InvalidInput(
                f"{field}: {name!r} is not a property of the input_schema of task {task.id}.",
                field=field,
            )
        target = targets[name]
        if isinstance(source, Mapping):
            if set(source) != {"const"}:
                raise InvalidInput(
                    f'{field} must be a JSON Pointer string or {{"const": value}}.', field=field
                )
            problems = list(Draft202012Validator(target).iter_errors(source["const"]))
            if problems:
                raise InvalidInput(f"{field}: the constant {problems[0].message}", field=field)
            continue
        if not isinstance(source, str):
            raise InvalidInput(
                f'{field} must be a JSON Pointer string or {{"const": value}}.', field=field
            )
        tokens = _pointer_tokens(source, field=field)
        if tokens[:1] == ["input"]:
            found = _schema_at(input_schema, tokens[1:])
            if found is None:
                raise InvalidInput(
                    f"{field}: {source} is not declared in the workflow's input_schema.",
                    field=field,
                )
            if len(tokens) > 1 and tokens[1] in tokenized_sources and name not in tokenized_targets:
                # The vault rules: a tokenized value never lands in a run's stored input.
                raise InvalidInput(
                    f"{field}: {source} is tokenized, so {name!r} must be tokenized in the "
                    f"input_schema of task {task.id} as well.",
                    field=field,
                )
        elif tokens[:1] == ["steps"] and len(tokens) >= 2 and tokens[1].isdigit():
            earlier = int(tokens[1])
            if earlier >= index:
                raise InvalidInput(
                    f"{field}: {source} refers to step {earlier}; a step can only use the "
                    "outputs of earlier steps.",
                    field=field,
                )
            found = _schema_at(tasks[earlier].output_schema, tokens[2:])
            if found is None:
                raise InvalidInput(
                    f"{field}: {source} is not declared in the output_schema of task "
                    f"{tasks[earlier].id} (step {earlier}).",
                    field=field,
                )
        else:
            raise InvalidInput(
                f"{field}: a pointer starts with /input or /steps/<earlier step index>.",
                field=field,
            )
        if not _compatible(found, target):
            raise InvalidInput(
                f"{field}: {source} is {found.get('type')!r}, but {name!r} takes "
                f"{target.get('type')!r}.",
                field=field,
            )
    for name in task.input_schema.get("required") or []:
        if name not in mapping:
            raise InvalidInput(
                f"{where}.input_mapping.{name} is required by the input_schema of task {task.id}.",
                field=f"{where}.input_mapping.{name}",
            )
    tasks.append(task)
    return {
        "task_id": task.id,
        "input_mapping": dict(mapping),
        "failure_behavior": behavior,
        "max_attempts": attempts,
    }


def workflow_definition_check(
    *, organization: Organization, steps: Any, input_schema: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """The steps with their defaults filled in; ``InvalidInput`` naming the field otherwise."""
    definitions.schema_check(input_schema, field="input_schema")
    definitions.tokenized_check(input_schema, {})
    if not isinstance(steps, list) or not steps:
        raise InvalidInput("steps must list at least one step.", field="steps")
    if len(steps) > MAX_STEPS:
        raise InvalidInput(f"steps takes at most {MAX_STEPS} steps.", field="steps")
    tasks: list[Task] = []
    return [
        _step_check(
            step, index=index, tasks=tasks, input_schema=input_schema, organization=organization
        )
        for index, step in enumerate(steps)
    ]


# -- workflows ----------------------------------------------------------------------------


def workflow_create(
    *,
    organization: Organization,
    name: str,
    steps: Any,
    description: str = "",
    input_schema: Mapping[str, Any] | None = None,
) -> Workflow:
    """Atomic: the workflow and ``workflow.created`` commit together."""
    schema = dict(input_schema or definitions.EMPTY_INPUT_SCHEMA)
    checked = workflow_definition_check(organization=organization, steps=steps, input_schema=schema)
    with transaction.atomic():
        workflow = Workflow.objects.create(
            organization=organization,
            name=name,
            description=description,
            steps=checked,
            input_schema=schema,
        )
        event_record(
            organization_id=organization.id,
            type="workflow.created",
            data=workflow_representation(workflow),
        )
    return workflow


def workflow_update(
    *, organization: Organization, workflow_id: str, changes: Mapping[str, Any]
) -> Workflow:
    """Atomic, under the row lock. Runs already started keep the steps they started with."""
    with transaction.atomic():
        workflow = selectors.workflow_get(
            organization=organization, workflow_id=workflow_id, for_update=True
        )
        for field in ("name", "description", "input_schema", "steps"):
            if changes.get(field) is not None:
                setattr(workflow, field, changes[field])
        workflow.steps = workflow_definition_check(
            organization=organization, steps=workflow.steps, input_schema=workflow.input_schema
        )
        workflow.save()
        event_record(
            organization_id=organization.id,
            type="workflow.updated",
            data=workflow_representation(workflow),
        )
    return workflow


def workflow_delete(*, organization: Organization, workflow_id: str) -> None:
    """Refused while one of its runs is unfinished; finished runs go with it."""
    with transaction.atomic():
        workflow = selectors.workflow_get(
            organization=organization, workflow_id=workflow_id, for_update=True
        )
        if workflow.runs.filter(status__in=WorkflowRun.ACTIVE).exists():
            raise StateConflict("This workflow has unfinished runs; cancel them first.")
        data = workflow_representation(workflow)
        workflow.delete()
        event_record(organization_id=organization.id, type="workflow.deleted", data=data)


# -- workflow runs ------------------------------------------------------------------------


def _workflow_transition(
    workflow_run_id: str, *, from_statuses: Iterable[str], to: str, **fields: Any
) -> WorkflowRun | None:
    """Atomic: conditional status change with its ``workflow_run.<to>`` event. A workflow
    run that ends gives up its tokenized input."""
    with transaction.atomic():
        moved = WorkflowRun.objects.filter(
            pk=workflow_run_id, status__in=list(from_statuses)
        ).update(status=to, updated_at=timezone.now(), **fields)
        if not moved:
            return None
        workflow_run = WorkflowRun.objects.select_related("organization").get(pk=workflow_run_id)
        event_record(
            organization_id=workflow_run.organization_id,
            type=f"workflow_run.{to}",
            data=workflow_run_event_data(workflow_run),
        )
        if workflow_run.is_terminal and workflow_run.input_tokens:
            vault_destroy(
                organization=workflow_run.organization,
                token_ids=list(workflow_run.input_tokens.values()),
            )
            WorkflowRun.objects.filter(pk=workflow_run_id).update(input_tokens={})
    return workflow_run


def _restored_input(workflow_run: WorkflowRun) -> dict[str, Any]:
    restored = dict(workflow_run.input)
    for name, token in workflow_run.input_tokens.items():
        restored[name] = json.loads(
            vault_reveal(
                organization=workflow_run.organization, token_id=token, purpose="workflow_run.input"
            )
        )
    return restored


def step_input(
    step: Mapping[str, Any], *, input: Mapping[str, Any], outputs: list[Any]
) -> dict[str, Any]:
    """The step's input from its mappings; a pointer to something absent (a skipped step's
    output, an optional field) leaves the field out, and the task's schema judges that."""
    document = {"input": input, "steps": outputs}
    built: dict[str, Any] = {}
    for name, source in step["input_mapping"].items():
        if isinstance(source, Mapping):
            built[name] = copy.deepcopy(source["const"])
            continue
        value = jsonpointer.resolve_pointer(document, source, _MISSING)
        if value is not _MISSING:
            built[name] = copy.deepcopy(value)
    return built


def _step_run_create(
    workflow_run: WorkflowRun,
    index: int,
    *,
    input: Mapping[str, Any],
    outputs: list[Any],
    credential_id: str | None = None,
) -> TaskRun:
    step = workflow_run.steps[index]
    return run_create(
        organization=workflow_run.organization,
        task_id=step["task_id"],
        input=step_input(step, input=input, outputs=outputs),
        credential_id=credential_id,
        session_id=workflow_run.session_id,
        links={
            "workflow_id": workflow_run.workflow_id,
            "workflow_run": workflow_run,
            "workflow_step": index,
        },
    )


def workflow_run_start(
    *,
    organization: Organization,
    workflow_id: str,
    input: Mapping[str, Any],
    credential_id: str | None = None,
    session_id: str | None = None,
) -> WorkflowRun:
    """Atomic: the workflow run (tokenized fields in the vault), its first step run and the
    session they share commit together, or nothing does (a first step whose input fails
    its task's schema is a 400 naming the field)."""
    workflow = selectors.workflow_get(organization=organization, workflow_id=workflow_id)
    errors = input_errors(workflow.input_schema, dict(input))
    if errors:
        raise InvalidInputs(errors)
    if not credential_id and not session_id:
        raise InvalidInput(
            "One of credential_id or session_id is required: all steps share its login.",
            field="credential_id",
        )
    with transaction.atomic():
        stored = dict(input)
        tokens = {
            name: vault_store(
                organization=organization,
                purpose="workflow_run.input",
                plaintext=json.dumps(stored.pop(name)),
            )
            for name in workflow.tokenized_fields
            if name in stored
        }
        workflow_run = WorkflowRun.objects.create(
            organization=organization,
            workflow=workflow,
            input=stored,
            tokenized=sorted(tokens),
            input_tokens=tokens,
            steps=workflow.steps,
            outputs=[None] * len(workflow.steps),
        )
        event_record(
            organization_id=organization.id,
            type="workflow_run.queued",
            data=workflow_run_event_data(workflow_run),
        )
        if session_id:
            workflow_run.session_id = session_id
        try:
            first = _step_run_create(
                workflow_run, 0, input=input, outputs=[], credential_id=credential_id
            )
        except InvalidInputs as exc:
            raise InvalidInputs([_at_step(error, 0) for error in exc.errors]) from exc
        except InvalidInput as exc:
            # The first step's input is the step's problem; the target is the request's.
            if exc.field and not exc.field.startswith("input"):
                raise
            raise _at_step(exc, 0) from exc
        WorkflowRun.objects.filter(pk=workflow_run.pk).update(
            session=first.session_id, credential=first.credential_id, current_run=first
        )
        workflow_run.refresh_from_db()
    return workflow_run


def _at_step(error: InvalidInput, index: int) -> InvalidInput:
    field = f"steps[{index}].{error.field}" if error.field else f"steps[{index}]"
    return InvalidInput(f"Step {index}: {error.message}", field=field)


def workflow_run_cancel(*, organization: Organization, workflow_run_id: str) -> WorkflowRun:
    """Cancels the workflow run and the step run it waits for."""
    workflow_run = selectors.workflow_run_get(
        organization=organization, workflow_run_id=workflow_run_id
    )
    now = timezone.now()
    moved = _workflow_transition(
        workflow_run.id,
        from_statuses=WorkflowRun.ACTIVE,
        to=W.CANCELED,
        canceled_at=now,
        finished_at=now,
    )
    if moved is None:
        raise StateConflict(
            f"The workflow run is {workflow_run.status}; only unfinished runs can be canceled."
        )
    if moved.current_run_id:
        # The step may have ended meanwhile; the workflow run is canceled all the same.
        with contextlib.suppress(StateConflict):
            run_cancel(organization=organization, run_id=moved.current_run_id)
    return moved


# -- the lifecycle hook -------------------------------------------------------------------


def _step_error(run: TaskRun, index: int) -> dict[str, Any]:
    last = run.errors[-1] if run.errors else {"type": "task", "code": "failed", "message": ""}
    return {**last, "step": index, "task_run_id": run.id}


def workflow_step_transitioned(run: TaskRun) -> None:
    """Called by ``run_transition`` inside the transaction of every status change of a step
    run. Moves the workflow run along: running / interaction_required follow the step; a
    completed step starts the next (or completes the workflow); a failed one stops,
    continues or retries as the step says; a canceled one cancels the workflow run."""
    workflow_run = (
        WorkflowRun.objects.select_for_update()
        .select_related("organization")
        .filter(pk=run.workflow_run_id)
        .first()
    )
    if workflow_run is None or workflow_run.is_terminal or workflow_run.current_run_id != run.id:
        return
    status = run.status
    if status in (S.RUNNING, S.QUEUED):
        if workflow_run.status != W.RUNNING and (
            status == S.RUNNING or workflow_run.status == W.INTERACTION_REQUIRED
        ):
            _workflow_transition(
                workflow_run.id,
                from_statuses=[W.QUEUED, W.INTERACTION_REQUIRED],
                to=W.RUNNING,
                started_at=workflow_run.started_at or timezone.now(),
            )
        return
    if status == S.INTERACTION_REQUIRED:
        _workflow_transition(
            workflow_run.id,
            from_statuses=[W.QUEUED, W.RUNNING],
            to=W.INTERACTION_REQUIRED,
            started_at=workflow_run.started_at or timezone.now(),
        )
        return
    if status == S.CANCELED:
        now = timezone.now()
        _workflow_transition(
            workflow_run.id,
            from_statuses=WorkflowRun.ACTIVE,
            to=W.CANCELED,
            canceled_at=now,
            finished_at=now,
        )
        return
    if status not in (S.COMPLETED, S.FAILED):
        return  # review_required, canceling: the step has not ended yet
    # The claim: whoever moves current_run off this run goes on; a duplicate finds it moved.
    if not WorkflowRun.objects.filter(pk=workflow_run.pk, current_run_id=run.id).update(
        current_run=None
    ):
        return
    index = run.workflow_step or 0
    outputs = list(workflow_run.outputs)
    errors = list(workflow_run.errors)
    if status == S.COMPLETED:
        outputs[index] = run.output
        _start_from(workflow_run, index + 1, outputs=outputs, errors=errors)
        return
    step = workflow_run.steps[index]
    errors.append(_step_error(run, index))
    behavior = step["failure_behavior"]
    attempts = TaskRun.objects.filter(workflow_run=workflow_run, workflow_step=index).count()
    if behavior == "retry" and attempts < step["max_attempts"]:
        _start_from(workflow_run, index, outputs=outputs, errors=errors)
    elif behavior == "continue":
        _start_from(workflow_run, index + 1, outputs=outputs, errors=errors)
    else:
        _finish(workflow_run, W.FAILED, outputs=outputs, errors=errors, step=index)


def _start_from(
    workflow_run: WorkflowRun, index: int, *, outputs: list[Any], errors: list[Any]
) -> None:
    """Starts step ``index`` in the workflow's session, skipping over steps whose input
    cannot be built when they say continue; completes the workflow after the last step."""
    restored: dict[str, Any] | None = None
    while index < len(workflow_run.steps):
        restored = _restored_input(workflow_run) if restored is None else restored
        try:
            with transaction.atomic():
                run = _step_run_create(workflow_run, index, input=restored, outputs=outputs)
        except DeckError as exc:
            errors.append({**_at_step_error(exc), "step": index})
            if workflow_run.steps[index]["failure_behavior"] == "continue":
                index += 1
                continue
            _finish(workflow_run, W.FAILED, outputs=outputs, errors=errors, step=index)
            return
        WorkflowRun.objects.filter(pk=workflow_run.pk).update(
            current_step=index,
            current_run=run,
            outputs=outputs,
            errors=errors,
            updated_at=timezone.now(),
        )
        return
    # Past the last step: steps that failed and said continue are in errors, not a failure.
    _finish(
        workflow_run,
        W.COMPLETED,
        outputs=outputs,
        errors=errors,
        step=len(workflow_run.steps) - 1,
    )


def _at_step_error(exc: DeckError) -> dict[str, Any]:
    first = exc.as_dicts()[0]
    return {**first, "message": f"The step could not start: {first['message']}"}


def _finish(
    workflow_run: WorkflowRun, to: str, *, outputs: list[Any], errors: list[Any], step: int
) -> None:
    _workflow_transition(
        workflow_run.id,
        from_statuses=WorkflowRun.ACTIVE,
        to=to,
        outputs=outputs,
        errors=errors,
        current_step=step,
        finished_at=timezone.now(),
    )
