"""The one seam between the run lifecycle and the agent.

The lifecycle (``tasks.execution``) builds a ``RunContext`` and calls ``agent_run(context)``,
which picks the planner and returns the output object. Everything the agent needs from the
platform goes through the context: the restored input and credential secrets (revealed only
here, in the worker), ``checkpoint()`` (heartbeat, cancel and deadline), ``step()`` (the
trace) and ``ask()`` (interactions). Everything it can report goes back as a return value or
one of the exceptions below.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from django.conf import settings
from django.utils.module_loading import import_string


class AgentStop(Exception):
    """Base of what an agent raises to end its work early."""


class AgentFailure(AgentStop):
    """The work cannot be done: the run fails with this error type and code."""

    def __init__(self, message: str, *, type: str = "task", code: str = "agent_failed") -> None:
        super().__init__(message)
        self.message = message
        self.type = type
        self.code = code

    def as_error(self) -> dict[str, str]:
        return {"type": self.type, "code": self.code, "message": self.message}


class InteractionNeeded(AgentStop):
    """Pause the run until a person answers; the worker slot is released meanwhile."""

    TYPES = ("mfa", "security_question", "account_selection")

    def __init__(self, *, type: str, message: str, fields: list[dict[str, Any]]) -> None:
        if type not in self.TYPES:
            raise ValueError(f"interaction type must be one of {self.TYPES}")
        super().__init__(message)
        self.interaction = {"type": type, "message": message, "fields": fields}


class RunCanceled(AgentStop):
    """Cancel was requested; raised by ``checkpoint()``."""


class RunTimedOut(AgentStop):
    """The run's wall-clock deadline passed; raised by ``checkpoint()``."""


@dataclass
class RunContext:
    run_id: str
    organization_id: str
    task_id: str
    task_name: str
    prompt: str
    input_schema: Mapping[str, Any]
    output_schema: Mapping[str, Any]
    input: dict[str, Any]
    source_url: str
    session_id: str | None
    credential_id: str | None
    checkpoint: Callable[[], None]
    step: Callable[..., None]
    answers: list[dict[str, Any]] = field(default_factory=list)
    credential_secret: Callable[[str], str | None] = lambda name: None
    # Every secret revealed for this run; the lifecycle masks them out of what it stores.
    secrets: set[str] = field(default_factory=set)
    source_id: str = ""
    agent_id: str = ""
    # "heuristic" or "llm": how the agent explores (tasks.models.Agent.Planner).
    agent_planner: str = "heuristic"
    # learning | test | live: in test and live a learned playbook replays first.
    task_status: str = "learning"
    storage_settings: Mapping[str, Any] = field(default_factory=dict)
    # The entities the run is scoped to (entity_ids), as {id, type, external_id, name,
    # attributes}; empty means the whole login.
    entities: list[dict[str, Any]] = field(default_factory=list)
    # Attachment file inputs by input field name: {storage_id, file_name, content_type, path}
    # with ``path`` a local file the worker made for this run (removed when it ends).
    attachments: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Hands a captured file to storage: (file_name=, content_type=, data=) → the storage
    # summary, or None when deduplication dropped it.
    capture: Callable[..., dict[str, Any] | None] = lambda **kwargs: None
    # Records what the login showed (accounts, meters, reservations …) as entities:
    # [{type, external_id, name, attributes}] → the same with ``id`` added.
    record_entities: Callable[[list[dict[str, Any]]], list[dict[str, Any]]] = lambda found: found
    # The source accepted the credential: marks it verified (once) with its event.
    login_verified: Callable[[], None] = lambda: None
    # {base_url, model, api_key} for the llm planner, revealed only when called.
    llm_settings: Callable[[], dict[str, str]] = lambda: {}
    _asked: int = 0

    def ask(self, *, type: str, message: str, fields: list[dict[str, Any]]) -> dict[str, Any]:
        """The person's answer to this interaction, or a pause until there is one.

        Answers are given in order: the n-th ``ask`` of an execution gets the n-th answer, so
        an agent that starts over after a pause replays the answers it already received.
        """
        index = self._asked
        self._asked += 1
        if index < len(self.answers):
            return self.answers[index]
        raise InteractionNeeded(type=type, message=message, fields=fields)


class Planner(Protocol):
    def run(self, context: RunContext) -> dict[str, Any]: ...


class UnavailablePlanner:
    """Used when the configured planner cannot be loaded: fails the run clearly instead of
    pretending."""

    def __init__(self, message: str = "") -> None:
        self.message = message or "No agent planner is available for this deployment."

    def run(self, context: RunContext) -> dict[str, Any]:
        raise AgentFailure(self.message, type="api", code="agent_unavailable")


# How each ``Agent.Planner`` explores, as a dotted path to a zero-argument factory returning a
# Planner. Browser planners also offer ``explore(harness) -> output`` so a wrapper (the
# playbook replay) can hand them an open harness mid-flow.
PLANNERS: dict[str, str] = {
    "heuristic": "tasks.agent.heuristic.HeuristicPlanner",
    "llm": "tasks.agent.llm.LlmPlanner",
}


def planner_for(context: RunContext) -> Planner:
    """``DECK_AGENT_PLANNER`` (a dotted path) overrides everything — tests script the agent
    with it; otherwise the agent's own planner from ``PLANNERS``."""
    path = getattr(settings, "DECK_AGENT_PLANNER", "") or PLANNERS.get(context.agent_planner, "")
    if not path:
        return UnavailablePlanner(f"The agent planner {context.agent_planner!r} is unknown.")
    try:
        factory: Callable[[], Planner] = import_string(path)
    except ImportError:
        return UnavailablePlanner(
            f"The agent planner {context.agent_planner!r} is not installed ({path})."
        )
    return factory()


def agent_run(context: RunContext) -> dict[str, Any]:
    """Run the task's agent and return the output object (validated by the caller)."""
    return planner_for(context).run(context)
