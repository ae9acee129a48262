"""A small client for OpenAI-compatible chat-completions endpoints (hosted or local models).

One call, ``chat(settings, messages, tools=None)`` → ``ChatReply(content, tool_calls)``:

    reply = chat(
        LlmSettings(base_url="https://api.openai.com/v1", model="gpt-4o-mini", api_key=key),
        [{"role": "user", "content": "Say hi"}],
    )
    reply.content          # "Hi!"
    reply.tool_calls       # [ToolCall(id, name, arguments: dict)] when tools were offered
    reply.message          # the assistant message, to append to ``messages`` for the next turn

``settings`` may also be the mapping ``RunContext.llm_settings()`` returns. Transient faults
(connection errors, timeouts, 429 and 5xx) are retried a bounded number of times; when the
endpoint cannot be reached the call raises ``LlmError`` with code ``llm_unavailable``, when it
refuses the request (401, 400 …) ``llm_rejected``, when it answers with something that is not
a chat completion ``llm_invalid_response``. ``LlmError`` is an ``AgentFailure`` (type ``api``),
so inside a run it fails the run with that error; elsewhere catch it and show its message.

The API key is registered with ``deck.redaction`` before any request, so no log line can
carry it, and it is never part of an error message.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from django.conf import settings as django_settings

from deck.redaction import redact, register_secret
from tasks.agent.runtime import AgentFailure

logger = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
# A Retry-After longer than this is not waited for: a run has a deadline to keep.
MAX_RETRY_AFTER_SECONDS = 20.0


class LlmError(AgentFailure):
    """The model endpoint could not be used; ``code`` says how."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message, type="api", code=code)


@dataclass(frozen=True)
class LlmSettings:
    base_url: str
    model: str
    api_key: str = field(default="", repr=False)
    timeout_seconds: float = 60.0
    max_retries: int = 2

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> LlmSettings:
        """From ``{base_url, model, api_key}``; timeouts and retries from Deck's settings."""
        return cls(
            base_url=str(values.get("base_url") or ""),
            model=str(values.get("model") or ""),
            api_key=str(values.get("api_key") or ""),
            timeout_seconds=float(
                values.get("timeout_seconds") or django_settings.DECK_LLM_TIMEOUT_SECONDS
            ),
            max_retries=int(
                values["max_retries"]
                if values.get("max_retries") is not None
                else django_settings.DECK_LLM_MAX_RETRIES
            ),
        )


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    # The parsed JSON arguments; ``{}`` with ``arguments_error`` set when the model sent
    # something that is not a JSON object (the planner tells the model so).
    arguments: dict[str, Any]
    arguments_error: str = ""


@dataclass(frozen=True)
class ChatReply:
    content: str | None
    tool_calls: list[ToolCall]
    finish_reason: str | None = None
    # The assistant message as the endpoint sent it, ready to go back in ``messages``.
    message: dict[str, Any] = field(default_factory=dict)
    usage: dict[str, Any] = field(default_factory=dict)


def chat(
    settings: LlmSettings | Mapping[str, Any],
    messages: Sequence[Mapping[str, Any]],
    tools: Sequence[Mapping[str, Any]] | None = None,
    *,
    tool_choice: str | Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
    client: httpx.Client | None = None,
) -> ChatReply:
    """One chat completion. ``tools`` are OpenAI function tools (``{"type": "function",
    "function": {name, description, parameters}}``); ``tool_choice`` defaults to ``"auto"``
    when tools are given; ``extra`` adds body fields (``temperature``, ``response_format`` …).
    ``client``: an ``httpx.Client`` to reuse across calls (a conversation keeps its connection
    alive); by default each call opens its own. Blocking, retried on transient faults, never
    logs the key."""
    config = settings if isinstance(settings, LlmSettings) else LlmSettings.from_mapping(settings)
    if not config.base_url or not config.model:
        raise LlmError(
            "No language model is configured: set the agent's llm_base_url and llm_model "
            "(or DECK_LLM_BASE_URL and DECK_LLM_MODEL).",
            code="llm_unavailable",
        )
    headers = {"Content-Type": "application/json"}
    if config.api_key:
        register_secret(config.api_key)
        headers["Authorization"] = f"Bearer {config.api_key}"
    body: dict[str, Any] = {"model": config.model, "messages": list(messages)}
    if tools:
        body["tools"] = list(tools)
        body["tool_choice"] = tool_choice or "auto"
    body.update(extra or {})
    url = config.base_url.rstrip("/") + "/chat/completions"
    timeout = httpx.Timeout(config.timeout_seconds, connect=min(10.0, config.timeout_seconds))

    if client is not None:
        return _reply(_post_with_retries(client, url, headers, body, config, timeout))
    with httpx.Client(follow_redirects=False) as own:
        return _reply(_post_with_retries(own, url, headers, body, config, timeout))


def _post_with_retries(
    client: httpx.Client,
    url: str,
    headers: dict[str, str],
    body: dict[str, Any],
    config: LlmSettings,
    timeout: httpx.Timeout,
) -> httpx.Response:
    attempts = config.max_retries + 1
    problem = ""
    for attempt in range(1, attempts + 1):
        wait: float | None = None
        try:
            response = client.post(url, headers=headers, json=body, timeout=timeout)
        except httpx.TimeoutException:
            problem = f"no answer within {config.timeout_seconds:g} s"
        except httpx.TransportError as exc:
            problem = f"cannot connect ({type(exc).__name__})"
        else:
            if response.status_code < 400:
                return response
            if response.status_code not in RETRY_STATUSES:
                raise LlmError(
                    f"The model endpoint refused the request (HTTP {response.status_code}): "
                    f"{_error_text(response)}",
                    code="llm_rejected",
                )
            problem = f"HTTP {response.status_code}"
            wait = _retry_after(response)
        if attempt < attempts:
            delay = wait if wait is not None else min(8.0, 0.5 * 2 ** (attempt - 1))
            # Jitter, so runs failing together do not retry together.
            delay *= random.uniform(0.8, 1.0)  # noqa: S311 (timing, not security)
            logger.warning(
                "Model endpoint %s: %s; retry %d of %d in %.1f s",
                url,
                problem,
                attempt,
                attempts - 1,
                delay,
            )
            time.sleep(delay)
    raise LlmError(
        f"The model endpoint {url} cannot be reached: {problem} "
        f"(after {attempts} attempt{'s' if attempts > 1 else ''}).",
        code="llm_unavailable",
    )


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    try:
        seconds = float(value)
    except ValueError:
        return None
    return max(0.0, min(seconds, MAX_RETRY_AFTER_SECONDS))


def _error_text(response: httpx.Response) -> str:
    """The endpoint's own error message, short and redacted (some echo the key back)."""
    try:
        data = response.json()
    except ValueError:
        text = response.text
    else:
        error = data.get("error") if isinstance(data, dict) else None
        detail = error.get("message") if isinstance(error, dict) else None
        text = str(detail or error or data)
    return redact(" ".join(text.split()))[:300] or "no details"


def _reply(response: httpx.Response) -> ChatReply:
    try:
        data = response.json()
        choice = data["choices"][0]
        message = dict(choice["message"])
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise LlmError(
            "The model endpoint answered with something that is not a chat completion.",
            code="llm_invalid_response",
        ) from exc
    content = message.get("content")
    if isinstance(content, list):  # content parts: keep the text ones
        content = "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    tool_calls = []
    for index, raw in enumerate(message.get("tool_calls") or []):
        raw = raw if isinstance(raw, dict) else {}
        function: dict[str, Any] = raw["function"] if isinstance(raw.get("function"), dict) else {}
        name = str(function.get("name") or "")
        arguments, problem = _arguments(function.get("arguments"))
        call_id = str(raw.get("id") or f"call_{index}")
        tool_calls.append(
            ToolCall(id=call_id, name=name, arguments=arguments, arguments_error=problem)
        )
    # Some servers omit ids; the next turn must answer each call by the id it was given.
    if tool_calls and message.get("tool_calls"):
        message["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
            }
            for call in tool_calls
        ]
    message["role"] = "assistant"
    message["content"] = content if isinstance(content, str) else None
    return ChatReply(
        content=content if isinstance(content, str) else None,
        tool_calls=tool_calls,
        finish_reason=choice.get("finish_reason"),
        message=message,
        usage=dict(data.get("usage") or {}),
    )


def _arguments(raw: Any) -> tuple[dict[str, Any], str]:
    if raw is None or raw == "":
        return {}, ""
    if isinstance(raw, dict):
        return raw, ""
    try:
        parsed = json.loads(raw)
    except (TypeError, ValueError):
        return {}, "the arguments are not valid JSON"
    if not isinstance(parsed, dict):
        return {}, "the arguments must be a JSON object"
    return parsed, ""
