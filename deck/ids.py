"""Prefixed public identifiers (``task_…``, ``trun_…``) as the API contract fixes them."""

from __future__ import annotations

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits
_LENGTH = 24  # 24 base62 characters: about 143 bits, unguessable and collision-free.


def new_id(prefix: str) -> str:
    return f"{prefix}_" + "".join(secrets.choice(_ALPHABET) for _ in range(_LENGTH))


def new_org_id() -> str:
    return new_id("org")


def new_key_id() -> str:
    return new_id("key")


def new_agent_id() -> str:
    return new_id("agt")


def new_source_id() -> str:
    return new_id("src")


def new_credential_id() -> str:
    return new_id("cred")


def new_task_id() -> str:
    return new_id("task")


def new_token_id() -> str:
    return new_id("tok")


def new_data_key_id() -> str:
    return new_id("dek")


def new_event_id() -> str:
    return new_id("evt")


def new_request_id() -> str:
    return new_id("req")


def new_run_id() -> str:
    return new_id("trun")


def new_session_id() -> str:
    return new_id("sess")


def new_event_destination_id() -> str:
    return new_id("evtd")


def new_event_delivery_id() -> str:
    return new_id("edlv")


def new_workflow_id() -> str:
    return new_id("wf")


def new_workflow_run_id() -> str:
    return new_id("wrun")


def new_entity_id() -> str:
    return new_id("ent")


def new_storage_id() -> str:
    return new_id("stor")


def new_playbook_id() -> str:
    return new_id("pbk")
