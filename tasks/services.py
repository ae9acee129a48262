"""Writes for agents, sources, credentials, tasks and their playbooks."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import re
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from deck.events.services import event_record
from deck.models import Organization
from deck.vault.services import vault_destroy, vault_store
from tasks import definitions, selectors
from tasks.errors import InvalidInput, NotFound, StateConflict
from tasks.models import Agent, Credential, Entity, Playbook, Source, Task, TaskRun
from tasks.schemas import credential_representation, task_representation

logger = logging.getLogger(__name__)

SOURCE_FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
MAX_SOURCE_FIELDS = 10
# Changing what the agent was taught sends a task back to learning (seed 001).
_RELEARN_FIELDS = ("prompt", "input_schema", "output_schema")

# -- agents -------------------------------------------------------------------------------


LLM_API_KEY_PURPOSE = "agent.llm_api_key"


def _llm_base_url(url: str) -> str:
    url = url.strip()
    if not url:
        return ""
    try:
        URLValidator(schemes=["http", "https"])(url)
    except DjangoValidationError as exc:
        raise InvalidInput(
            "llm_base_url must be an http or https URL, such as https://api.openai.com/v1.",
            field="llm_base_url",
        ) from exc
    return url.rstrip("/")


def _agent_check(agent: Agent) -> None:
    """An llm agent needs an endpoint and a model, its own or the deployment's."""
    if agent.planner != Agent.Planner.LLM:
        return
    if not (agent.llm_base_url or settings.DECK_LLM_BASE_URL):
        raise InvalidInput(
            "The llm planner needs llm_base_url (this deployment sets no DECK_LLM_BASE_URL).",
            field="llm_base_url",
        )
    if not (agent.llm_model or settings.DECK_LLM_MODEL):
        raise InvalidInput(
            "The llm planner needs llm_model (this deployment sets no DECK_LLM_MODEL).",
            field="llm_model",
        )


def _agent_apply(agent: Agent, changes: Mapping[str, Any], *, replaced: list[str]) -> None:
    """Set the given fields; a new ``llm_api_key`` goes to the vault, ``""`` or None removes
    it (so does a new ``llm_base_url`` without a key), and the old token goes to ``replaced``."""
    for field in ("name", "description", "planner", "llm_model"):
        if changes.get(field) is not None:
            setattr(
                agent, field, changes[field].strip() if field == "llm_model" else changes[field]
            )
    key_given = "llm_api_key" in changes
    if changes.get("llm_base_url") is not None:
        url = _llm_base_url(changes["llm_base_url"])
        if url != agent.llm_base_url and agent.llm_api_key_token and not key_given:
            # A key goes only to the endpoint it was given for: whoever moves the endpoint
            # must give the key again, or a new URL could collect the old one.
            changes = {**changes, "llm_api_key": ""}
            key_given = True
        agent.llm_base_url = url
    if key_given:
        key = (changes["llm_api_key"] or "").strip()
        replaced.append(agent.llm_api_key_token)
        agent.llm_api_key_token = (
            vault_store(organization=agent.organization, purpose=LLM_API_KEY_PURPOSE, plaintext=key)
            if key
            else ""
        )
    _agent_check(agent)


def agent_create(
    *,
    organization: Organization,
    name: str,
    description: str = "",
    planner: str = Agent.Planner.HEURISTIC,
    llm_base_url: str = "",
    llm_model: str = "",
    llm_api_key: str | None = None,
) -> Agent:
    """Atomic: the agent and its vault-held model API key commit together."""
    agent = Agent(organization=organization, name=name, description=description)
    with transaction.atomic():
        _agent_apply(
            agent,
            {
                "planner": planner,
                "llm_base_url": llm_base_url or "",
                "llm_model": llm_model or "",
                "llm_api_key": llm_api_key,
            },
            replaced=[],
        )
        agent.save()
    return agent


def agent_update(*, organization: Organization, agent_id: str, changes: Mapping[str, Any]) -> Agent:
    """Atomic; a replaced or removed model API key is destroyed in the vault."""
    with transaction.atomic():
        agent = selectors.agent_get(organization=organization, agent_id=agent_id)
        replaced: list[str] = []
        _agent_apply(agent, changes, replaced=replaced)
        agent.save()
        vault_destroy(organization=organization, token_ids=[t for t in replaced if t])
    return agent


def agent_delete(*, organization: Organization, agent_id: str) -> None:
    """Refused while the agent still has tasks: deleting it must not lose them."""
    with transaction.atomic():
        agent = selectors.agent_get(organization=organization, agent_id=agent_id)
        if agent.tasks.exists():
            raise StateConflict("This agent still has tasks; delete or move them first.")
        token = agent.llm_api_key_token
        agent.delete()
        if token:
            vault_destroy(organization=organization, token_ids=[token])


# -- sources ------------------------------------------------------------------------------


def _website_url(url: str) -> str:
    url = url.strip()
    try:
        URLValidator(schemes=["http", "https"])(url)
    except DjangoValidationError as exc:
        raise InvalidInput(
            "website.url must be an http or https URL.", field="website.url"
        ) from exc
    return url


def source_create(
    *,
    organization: Organization,
    name: str,
    url: str,
    interaction_timeout_seconds: int | None = None,
) -> Source:
    return Source.objects.create(
        organization=organization,
        name=name,
        url=_website_url(url),
        interaction_timeout_seconds=interaction_timeout_seconds,
    )


def source_update(
    *,
    organization: Organization,
    source_id: str,
    name: str | None = None,
    url: str | None = None,
    interaction_timeout_seconds: int | None = None,
) -> Source:
    source = selectors.source_get(organization=organization, source_id=source_id)
    if name is not None:
        source.name = name
    if url is not None:
        source.url = _website_url(url)
    if interaction_timeout_seconds is not None:
        source.interaction_timeout_seconds = interaction_timeout_seconds
    source.save()
    return source


def source_delete(*, organization: Organization, source_id: str) -> None:
    """Refused while credentials use the source."""
    source = selectors.source_get(organization=organization, source_id=source_id)
    if source.credentials.exists():
        raise StateConflict("This source still has credentials; delete them first.")
    source.delete()


# -- credentials --------------------------------------------------------------------------


def _totp_secret(secret: str) -> str:
    normalized = re.sub(r"\s+", "", secret).upper()
    try:
        decoded = base64.b32decode(normalized + "=" * (-len(normalized) % 8))
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput(
            "totp_secret must be the base32 seed shown when the authenticator was set up.",
            field="auth_credentials.totp_secret",
        ) from exc
    if len(decoded) < 10:
        raise InvalidInput("totp_secret is too short.", field="auth_credentials.totp_secret")
    return normalized


def _source_fields(fields: Mapping[str, str]) -> dict[str, str]:
    if len(fields) > MAX_SOURCE_FIELDS:
        raise InvalidInput(
            f"source_fields takes at most {MAX_SOURCE_FIELDS} fields.",
            field="auth_credentials.source_fields",
        )
    for name in fields:
        if not SOURCE_FIELD_NAME.match(name):
            raise InvalidInput(
                f"source_fields name {name!r} must match ^[a-z][a-z0-9_]{{0,63}}$.",
                field=f"auth_credentials.source_fields.{name}",
            )
    return dict(fields)


def _store_secrets(
    credential: Credential, auth_credentials: Mapping[str, Any], *, replaced: list[str]
) -> None:
    """Move the secrets of ``auth_credentials`` into the vault; old tokens go to ``replaced``."""
    organization = credential.organization
    if auth_credentials.get("username") is not None:
        credential.username = auth_credentials["username"]
    if auth_credentials.get("password") is not None:
        replaced.append(credential.password_token)
        credential.password_token = vault_store(
            organization=organization,
            purpose="credential.password",
            plaintext=auth_credentials["password"],
        )
    if auth_credentials.get("totp_secret") is not None:
        replaced.append(credential.totp_token)
        credential.totp_token = vault_store(
            organization=organization,
            purpose="credential.totp_secret",
            plaintext=_totp_secret(auth_credentials["totp_secret"]),
        )
    if auth_credentials.get("source_fields") is not None:
        fields = _source_fields(auth_credentials["source_fields"])
        replaced.append(credential.source_fields_token)
        credential.source_fields_token = (
            vault_store(
                organization=organization,
                purpose="credential.source_fields",
                plaintext=json.dumps(fields),
            )
            if fields
            else ""
        )
        credential.source_field_names = sorted(fields)


def credential_create(
    *,
    organization: Organization,
    source_id: str,
    auth_method: str,
    auth_credentials: Mapping[str, Any] | None,
    external_id: str | None = None,
) -> Credential:
    """Atomic: the credential row and its vault tokens commit together."""
    source = selectors.source_get(organization=organization, source_id=source_id, field="source_id")
    auth_credentials = auth_credentials or {}
    if auth_method == Credential.AuthMethod.USERNAME_PASSWORD:
        for required in ("username", "password"):
            if not auth_credentials.get(required):
                raise InvalidInput(
                    f"auth_credentials.{required} is required for username_password.",
                    field=f"auth_credentials.{required}",
                )
    elif any(value is not None for value in auth_credentials.values()):
        raise InvalidInput("auth_method none takes no auth_credentials.", field="auth_credentials")
    with transaction.atomic():
        credential = Credential(
            organization=organization,
            source=source,
            auth_method=auth_method,
            external_id=external_id or "",
        )
        _store_secrets(credential, auth_credentials, replaced=[])
        credential.save()
    return credential


def credential_update(
    *, organization: Organization, credential_id: str, changes: Mapping[str, Any]
) -> Credential:
    """Atomic. New secrets replace the old ones, whose vault tokens are destroyed, and send
    the credential back to ``unverified``: the source has not seen them yet."""
    with transaction.atomic():
        credential = selectors.credential_get(
            organization=organization, credential_id=credential_id, for_update=True
        )
        auth_credentials = changes.get("auth_credentials") or {}
        if auth_credentials and credential.auth_method == Credential.AuthMethod.NONE:
            raise InvalidInput(
                "auth_method none takes no auth_credentials.", field="auth_credentials"
            )
        replaced: list[str] = []
        _store_secrets(credential, auth_credentials, replaced=replaced)
        if any(value is not None for value in auth_credentials.values()):
            credential.status = Credential.Status.UNVERIFIED
        if "external_id" in changes:
            credential.external_id = changes["external_id"] or ""
        credential.save()
        vault_destroy(organization=organization, token_ids=[t for t in replaced if t])
    return credential


def credential_delete(*, organization: Organization, credential_id: str) -> None:
    """Atomic: the credential and its vault tokens go together."""
    with transaction.atomic():
        credential = selectors.credential_get(
            organization=organization, credential_id=credential_id
        )
        tokens = credential.vault_token_ids()
        credential.delete()
        vault_destroy(organization=organization, token_ids=tokens)


def _credential_mark(*, credential_id: str, to: str, from_statuses: list[str]) -> bool:
    """Atomic: conditional status change plus its ``credential.<status>`` event; False when
    the credential was not in ``from_statuses`` (or is gone), with nothing written."""
    with transaction.atomic():
        moved = Credential.objects.filter(pk=credential_id, status__in=from_statuses).update(
            status=to, updated_at=timezone.now()
        )
        if not moved:
            return False
        credential = Credential.objects.get(pk=credential_id)
        event_record(
            organization_id=credential.organization_id,
            type=f"credential.{to}",
            data=credential_representation(credential),
        )
    return True


def credential_mark_verified(*, credential_id: str) -> bool:
    """Atomic, idempotent: the source accepted the login. unverified/invalid → verified with
    one ``credential.verified`` event; an already verified credential writes nothing."""
    return _credential_mark(
        credential_id=credential_id,
        to=Credential.Status.VERIFIED,
        from_statuses=[Credential.Status.UNVERIFIED, Credential.Status.INVALID],
    )


def credential_mark_invalid(*, credential_id: str) -> bool:
    """Atomic, idempotent: the source rejected the login. unverified/verified → invalid with
    one ``credential.invalid`` event; an already invalid credential writes nothing."""
    return _credential_mark(
        credential_id=credential_id,
        to=Credential.Status.INVALID,
        from_statuses=[Credential.Status.UNVERIFIED, Credential.Status.VERIFIED],
    )


# -- entities -----------------------------------------------------------------------------

MAX_ENTITIES_PER_RECORD = 5000
MAX_ENTITY_ATTRIBUTES_CHARS = 20_000


def entity_fields(item: Any, *, where: str = "entity") -> dict[str, Any]:
    """One discovered entity, checked and normalized: {type, external_id, name, attributes};
    ``InvalidInput`` (its field under ``where``) when it cannot be stored."""
    if not isinstance(item, Mapping):
        raise InvalidInput(f"{where} must be an object.", field=where)
    kind = item.get("type")
    if not isinstance(kind, str) or not kind.strip() or len(kind.strip()) > 64:
        raise InvalidInput(
            f"{where}.type must be a text of 1 to 64 characters.", field=f"{where}.type"
        )
    external_id = item.get("external_id")
    if isinstance(external_id, int) and not isinstance(external_id, bool):
        external_id = str(external_id)
    if (
        not isinstance(external_id, str)
        or not external_id.strip()
        or len(external_id.strip()) > 255
    ):
        raise InvalidInput(
            f"{where}.external_id must be a text of 1 to 255 characters.",
            field=f"{where}.external_id",
        )
    name = item.get("name") or ""
    if not isinstance(name, str):
        raise InvalidInput(f"{where}.name must be a text.", field=f"{where}.name")
    attributes = item.get("attributes") or {}
    if not isinstance(attributes, Mapping):
        raise InvalidInput(f"{where}.attributes must be an object.", field=f"{where}.attributes")
    try:
        size = len(json.dumps(attributes))
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            f"{where}.attributes must be plain JSON.", field=f"{where}.attributes"
        ) from exc
    if size > MAX_ENTITY_ATTRIBUTES_CHARS:
        raise InvalidInput(
            f"{where}.attributes is larger than {MAX_ENTITY_ATTRIBUTES_CHARS} characters.",
            field=f"{where}.attributes",
        )
    return {
        "type": kind.strip(),
        "external_id": external_id.strip(),
        "name": name.strip()[:500],
        "attributes": dict(attributes),
    }


def entities_record(*, credential_id: str, found: list[dict[str, Any]]) -> list[Entity]:
    """Atomic, idempotent: upserts what a login showed, keyed by (credential, type,
    external_id); recording the same list again changes only ``last_seen_at``. Returns the
    entities in the order given (a repeated identity once, its last occurrence winning)."""
    if not isinstance(found, list):
        raise InvalidInput("found must be a list of entities.", field="found")
    if len(found) > MAX_ENTITIES_PER_RECORD:
        raise InvalidInput(
            f"At most {MAX_ENTITIES_PER_RECORD} entities can be recorded at once.", field="found"
        )
    wanted: dict[tuple[str, str], dict[str, Any]] = {}
    for index, item in enumerate(found):
        fields = entity_fields(item, where=f"found[{index}]")
        wanted.pop((fields["type"], fields["external_id"]), None)
        wanted[(fields["type"], fields["external_id"])] = fields
    now = timezone.now()
    with transaction.atomic():
        # The row lock serializes two recorders of one credential, so neither trips over the
        # unique constraint with a row the other is creating.
        credential = Credential.objects.select_for_update().filter(pk=credential_id).first()
        if credential is None:
            raise NotFound("credential", credential_id, field="credential_id")
        existing = {
            (entity.type, entity.external_id): entity
            for entity in Entity.objects.filter(
                credential=credential, external_id__in={key[1] for key in wanted}
            )
        }
        changed, created = [], []
        for key, fields in wanted.items():
            entity = existing.get(key)
            if entity is None:
                entity = Entity(
                    organization_id=credential.organization_id,
                    credential=credential,
                    source_id=credential.source_id,
                    first_seen_at=now,
                    last_seen_at=now,
                    **fields,
                )
                created.append(entity)
            else:
                entity.name = fields["name"]
                entity.attributes = fields["attributes"]
                entity.last_seen_at = now
                entity.updated_at = now
                changed.append(entity)
            existing[key] = entity
        Entity.objects.bulk_create(created, batch_size=500)
        Entity.objects.bulk_update(
            changed, ["name", "attributes", "last_seen_at", "updated_at"], batch_size=500
        )
    return [existing[key] for key in wanted]


# -- tasks --------------------------------------------------------------------------------


def task_create(
    *,
    organization: Organization,
    agent_id: str,
    name: str,
    task_id: str | None = None,
    prompt: str | None = None,
    input_schema: Mapping[str, Any] | None = None,
    output_schema: Mapping[str, Any] | None = None,
    storage: Mapping[str, Any] | None = None,
    timeout_seconds: int | None = None,
    review_required: bool | None = None,
    type: str | None = None,
    scope: str | None = None,
) -> Task:
    """Atomic: the task and its ``task.created`` event commit together. ``type`` and
    ``scope`` default from each other or from what the task does (definitions.task_kind)."""
    agent = selectors.agent_get(organization=organization, agent_id=agent_id, field="agent_id")
    task = Task(
        organization=organization,
        agent=agent,
        name=name,
        prompt=prompt or "",
        input_schema=dict(input_schema or definitions.EMPTY_INPUT_SCHEMA),
        output_schema=dict(output_schema or definitions.ANY_OUTPUT_SCHEMA),
        storage=definitions.storage_normalize(storage),
        timeout_seconds=timeout_seconds if timeout_seconds is not None else 1800,
        review_required=bool(review_required),
    )
    if task_id:
        task.id = task_id
    _task_check(task)
    task.type, task.scope = definitions.task_kind(
        type=type, scope=scope, storage=task.storage, input_schema=task.input_schema
    )
    try:
        with transaction.atomic():
            # force_insert: a caller-chosen id that exists must fail, never overwrite.
            task.save(force_insert=True)
            event_record(
                organization_id=organization.id, type="task.created", data=task_representation(task)
            )
    except IntegrityError as exc:
        raise StateConflict(f"A task with id {task_id!r} already exists.", field="id") from exc
    return task


def task_update(*, organization: Organization, task_id: str, changes: Mapping[str, Any]) -> Task:
    """Atomic, under a row lock so concurrent edits and stage changes do not interleave."""
    with transaction.atomic():
        task = selectors.task_get(organization=organization, task_id=task_id, for_update=True)
        relearn = False
        for field in ("name", "prompt", "input_schema", "output_schema"):
            if changes.get(field) is None:
                continue
            value = changes[field]
            if field in _RELEARN_FIELDS and value != getattr(task, field):
                relearn = True
            setattr(task, field, value)
        if changes.get("agent_id") is not None:
            task.agent = selectors.agent_get(
                organization=organization, agent_id=changes["agent_id"], field="agent_id"
            )
        if changes.get("storage") is not None:
            task.storage = definitions.storage_normalize({**task.storage, **changes["storage"]})
        task_settings = changes.get("settings") or {}
        if task_settings.get("timeout_seconds") is not None:
            task.timeout_seconds = task_settings["timeout_seconds"]
        if task_settings.get("review_required") is not None:
            task.review_required = task_settings["review_required"]
        _task_check(task)
        if changes.get("type") is not None or changes.get("scope") is not None:
            new_type, new_scope = changes.get("type"), changes.get("scope")
            if new_type is not None and new_scope is None:
                # Keep the scope while it still fits the new type.
                fits = Task.SCOPE_TYPES[Task.Scope(task.scope)] == new_type
                new_scope = task.scope if fits else None
            task.type, task.scope = definitions.task_kind(
                type=new_type,
                scope=new_scope,
                storage=task.storage,
                input_schema=task.input_schema,
            )
        if relearn and task.status != Task.Status.LEARNING:
            task.status = Task.Status.LEARNING
            task.stage_successes = 0
        if relearn:
            # What was learned answered the old prompt and schemas.
            task.playbooks.all().delete()
        task.save()
        event_record(
            organization_id=organization.id, type="task.updated", data=task_representation(task)
        )
    return task


def task_reset(*, organization: Organization, task_id: str) -> Task:
    """Atomic; idempotent in effect (a learning task stays learning, with its count zeroed)."""
    with transaction.atomic():
        task = selectors.task_get(organization=organization, task_id=task_id, for_update=True)
        task.status = Task.Status.LEARNING
        task.stage_successes = 0
        task.save(update_fields=["status", "stage_successes", "updated_at"])
        # Reset discards what the agent learned: the next run explores again.
        task.playbooks.all().delete()
        event_record(
            organization_id=organization.id, type="task.reset", data=task_representation(task)
        )
    return task


def task_delete(*, organization: Organization, task_id: str) -> None:
    """Atomic: the deletion and its ``task.deleted`` event commit together."""
    with transaction.atomic():
        task = selectors.task_get(organization=organization, task_id=task_id, for_update=True)
        data = task_representation(task)
        task.delete()
        event_record(organization_id=organization.id, type="task.deleted", data=data)


# -- playbooks ----------------------------------------------------------------------------


def playbook_steps_hash(steps: list[dict[str, Any]]) -> str:
    canonical = json.dumps(steps, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def playbook_record(
    *,
    run: TaskRun,
    steps: list[dict[str, Any]],
    healed_from_version: int | None = None,
    secrets: set[str] | frozenset[str] = frozenset(),
) -> Playbook | None:
    """Atomic under the task's row lock (versions count up without gaps or races). Records
    ``steps`` as the next version for the run's (task, source) unless they equal the latest
    version's; returns the new playbook or None. Steps that would store a secret of the run
    are refused (logged), never stored."""
    text = json.dumps(steps, ensure_ascii=False)
    if any(len(secret) >= 4 and secret in text for secret in secrets):
        logger.warning("Run %s: the playbook would hold a secret; not recorded.", run.id)
        return None
    digest = playbook_steps_hash(steps)
    with transaction.atomic():
        task = Task.objects.select_for_update().filter(pk=run.task_id).first()
        if task is None:
            return None
        playbooks = Playbook.objects.filter(task=task, source_id=run.source_id)
        latest = playbooks.order_by("-version").first()
        if latest is not None and (
            latest.steps_hash == digest or _playbook_covers(latest.steps, steps)
        ):
            return None
        version = (playbooks.aggregate(last=Max("version"))["last"] or 0) + 1
        return Playbook.objects.create(
            organization_id=task.organization_id,
            task=task,
            source_id=run.source_id,
            version=version,
            steps=steps,
            steps_hash=digest,
            recorded_from_run=run,
            healed_from_version=healed_from_version,
        )


def _playbook_covers(known: list[dict[str, Any]], steps: list[dict[str, Any]]) -> bool:
    """Whether ``known`` already does what ``steps`` did, plus optional (login) steps that a
    run in a signed-in session skipped: recording those runs would flip versions back and
    forth between sessions."""

    def essential(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [item for item in items if not item.get("optional")]

    return len(steps) < len(known) and essential(known) == essential(steps)


def _task_check(task: Task) -> None:
    definitions.task_definition_check(
        input_schema=task.input_schema,
        output_schema=task.output_schema,
        storage=task.storage,
        timeout_seconds=task.timeout_seconds,
    )
