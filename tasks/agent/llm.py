"""The ``llm`` planner: an OpenAI-compatible model drives the harness by tool calling.

Each turn the model gets a compact snapshot of the page and answers with tool calls
(``goto``, ``click``, ``type`` … ``finish``); the planner performs them through the harness
and reports back what happened. The model never sees a secret: credentials, tokenized inputs
and interaction answers are named by placeholders (``{{credential.password}}``,
``{{input.card_number}}``, ``{{answer.code}}``) that the harness substitutes at the moment it
types, and everything sent to the model is masked against every secret revealed in the run.

Budgets: ``DECK_LLM_MAX_STEPS`` model turns, the harness's own step budget
(``DECK_AGENT_MAX_STEPS``) and the run's deadline (``checkpoint()`` before every turn).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

import httpx
from django.conf import settings
from jsonschema import Draft202012Validator

from deck.redaction import mask_values, redact_data
from tasks.agent.harness import ActionFailed, Harness
from tasks.agent.llm_client import ChatReply, LlmError, LlmSettings, ToolCall, chat
from tasks.agent.runtime import AgentFailure, RunContext

logger = logging.getLogger(__name__)

# Limits that keep each request small: the snapshot a model reads, and what a tool answers.
SNAPSHOT_CHARS = 9000
RESULT_CHARS = 4000
OLD_RESULT_CHARS = 400  # what stays of a tool's answer once the model has seen it
MAX_OUTPUT_ATTEMPTS = 3  # finish calls refused for not matching output_schema
MAX_IDLE_TURNS = 3  # turns in a row without a tool call
MAX_FAILED_ACTIONS = 8  # tool calls in a row that could not act on the page

# Described once, briefly: it is repeated in every tool that takes a target (the guidance
# explains targets at length).
_TARGET = {
    "type": "object",
    "description": 'One of {"role","name"} | {"label"} | {"text"} | {"href"} | {"css"}; '
    '"nth" picks among matches.',
    "properties": {
        "role": {"type": "string"},
        "name": {"type": "string"},
        "label": {"type": "string"},
        "text": {"type": "string"},
        "href": {"type": "string"},
        "css": {"type": "string"},
        "nth": {"type": "integer", "minimum": 0},
    },
    "additionalProperties": False,
}
_REASONING = {"type": "string", "description": "One short sentence: why this step."}


def _tool(name: str, description: str, properties: dict[str, Any], required: list[str]) -> dict:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {
                "type": "object",
                "properties": {**properties, "reasoning": _REASONING},
                "required": required,
                "additionalProperties": False,
            },
        },
    }


def tool_definitions(output_schema: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The harness tools as OpenAI function tools; ``finish`` takes the task's output."""
    output = {k: v for k, v in output_schema.items() if k not in ("$schema", "$id")}
    return [
        _tool(
            "goto",
            "Open an address. Relative addresses are resolved against the source's URL; "
            "{{source.url}} is the source's start page.",
            {"url": {"type": "string"}},
            ["url"],
        ),
        _tool("click", "Click an element (link, button, tab …).", {"target": _TARGET}, ["target"]),
        _tool(
            "type",
            "Fill a text field. For secrets and inputs use placeholders, never guesses: "
            "{{credential.username}}, {{credential.password}}, {{credential.totp}}, "
            "{{credential.<source field>}}, {{input.<name>}}, {{answer.<field>}}.",
            {"target": _TARGET, "value": {"type": "string"}},
            ["target", "value"],
        ),
        _tool(
            "select",
            "Choose an option of a select (by its label or value), or tick a radio/checkbox.",
            {"target": _TARGET, "value": {"type": "string"}},
            ["target", "value"],
        ),
        _tool(
            "upload",
            "Put one of the run's file inputs into a file field.",
            {"target": _TARGET, "field": {"type": "string", "description": "Input name."}},
            ["target", "field"],
        ),
        _tool(
            "download",
            "Download the file behind a link or button (bills, statements …); it is captured "
            "for the run.",
            {"target": _TARGET},
            ["target"],
        ),
        _tool(
            "read_page",
            "Read the page again in full (the snapshot you get each turn may be shortened).",
            {},
            [],
        ),
        _tool(
            "extract_table",
            "Rows of a table as objects keyed by column header. target: "
            '{"text": caption or heading} or {"nth": i} or {"css": …}; omit for the first.',
            {"target": {"type": "object"}},
            [],
        ),
        _tool("screenshot", "Keep a screenshot of the page in the run's trace.", {}, []),
        _tool(
            "ask_user",
            "Ask the person for something only they have (an MFA code sent to them, a security "
            "answer, which account to use). The answer comes back as {{answer.<field>}} "
            "placeholders.",
            {
                "type": {
                    "type": "string",
                    "enum": ["mfa", "security_question", "account_selection"],
                },
                "message": {"type": "string"},
                "fields": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "name": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"},
                            "type": {"type": "string", "enum": ["text", "number", "select"]},
                            "label": {"type": "string"},
                        },
                        "required": ["name", "type", "label"],
                    },
                    "minItems": 1,
                },
            },
            ["type", "message", "fields"],
        ),
        _tool(
            "login_result",
            "Say whether the site accepted the login: accepted=true once you are signed in, "
            "false when it rejected the credentials (this ends the run).",
            {"accepted": {"type": "boolean"}, "message": {"type": "string"}},
            ["accepted"],
        ),
        _tool(
            "record_entities",
            "Report the things this login gives access to (accounts, locations, meters, "
            "policies, reservations, employees …) with their ids as the site shows them.",
            {
                "entities": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "type": {"type": "string"},
                            "external_id": {"type": "string"},
                            "name": {"type": "string"},
                            "attributes": {"type": "object"},
                        },
                        "required": ["type", "external_id"],
                    },
                }
            },
            ["entities"],
        ),
        _tool(
            "finish",
            "Done: return the task's output. It must match the output schema; data the site "
            "does not show is null.",
            {"output": output or {"type": "object"}},
            ["output"],
        ),
        _tool(
            "fail",
            "Give up with a reason, when the task cannot be done on this site.",
            {
                "message": {"type": "string"},
                "code": {
                    "type": "string",
                    "enum": ["auth_invalid", "not_found", "blocked", "agent_failed"],
                },
            },
            ["message"],
        ),
    ]


GUIDANCE = """You are Deck's browser agent. You work on a real website on behalf of its user, \
through tools: goto, click, type, select, upload, download, read_page, extract_table, \
screenshot, ask_user, login_result, record_entities, finish, fail.

How to work:
- Each turn you get a snapshot of the current page (URL, headings, alerts, form inputs with \
their labels, buttons, links, tables, label/value pairs, text). Act on what it shows; never \
invent elements.
- Describe targets the way a person would, best first: {"label": "Email"} for a form field, \
{"role": "button", "name": "Sign in"} for a button (role is the ARIA role: button, link, \
textbox, checkbox …), {"text": "Bills"} or {"role": "link", "name": "Bills"} for a link, \
{"href": "/bills/2025-01.pdf"} for a link by its address, {"css": "form#pay button"} only as \
a last resort; add "nth" (0-based) to pick among several matches.
- You never see secrets. Type them with placeholders the harness fills in: \
{{credential.username}}, {{credential.password}}, {{credential.totp}} (the current one-time \
code), {{credential.<field>}}, {{input.<name>}} and, after ask_user, {{answer.<field>}}.
- Log in first when the site asks for it. If the site then shows you signed in, call \
login_result with accepted=true; if it rejects the credentials, call login_result with \
accepted=false. If it asks for a code you cannot generate ({{credential.totp}} is not \
available), ask_user.
- When the site lists accounts, locations, meters, policies or the like, report them once with \
record_entities.
- Only do what the task asks. Do not submit forms that change anything unless the task says so.
- Finish with finish(output): the output must match the output schema exactly; use null for \
data the site does not show. Numbers are numbers (12.5, not "$12.50"); dates are ISO \
(2025-01-31) unless the schema says otherwise.
- If the task cannot be done, call fail with a short reason.
- Call one or a few tools per turn; you will see the page again after them."""


def placeholder_input(context: RunContext) -> dict[str, Any]:
    """The run's input as the model sees it: tokenized fields as placeholders."""
    tokenized = set(context.input_schema.get("tokenized") or [])
    shown: dict[str, Any] = {}
    for name, value in context.input.items():
        shown[name] = f"{{{{input.{name}}}}}" if name in tokenized else value
    for name in context.attachments:
        shown[name] = f"(file for upload: field {name!r})"
    return shown


def _credential_lines(harness: Harness) -> list[str]:
    context = harness.context
    if not context.credential_id:
        return ["No credential: the site is used without logging in."]
    available = ["{{credential.username}}"] if harness.has_credential("username") else []
    if harness.has_credential("password"):
        available.append("{{credential.password}}")
    if harness.has_credential("totp"):
        available.append("{{credential.totp}}")
    available += [f"{{{{credential.{name}}}}}" for name in sorted(harness.source_fields())]
    return ["Credential placeholders available: " + (", ".join(available) or "none")]


def task_message(harness: Harness) -> str:
    context = harness.context
    parts = [
        f"Task: {context.task_name}",
        f"Goal: {context.prompt or '(no prompt: return what the output schema asks for)'}",
        f"Site: {context.source_url}",
        *_credential_lines(harness),
        "Input: " + json.dumps(placeholder_input(context), ensure_ascii=False, default=str),
        "Output schema: " + json.dumps(context.output_schema, ensure_ascii=False),
    ]
    if context.entities:
        scoped = [
            {key: entity.get(key) for key in ("type", "external_id", "name")}
            for entity in context.entities
        ]
        parts.append(
            "Work only on these entities: " + json.dumps(scoped, ensure_ascii=False, default=str)
        )
    return "\n".join(parts)


def compact_snapshot(snapshot: Mapping[str, Any], limit: int = SNAPSHOT_CHARS) -> str:
    """The page as a few hundred lines of text a model reads quickly."""
    lines = [f"URL: {snapshot.get('url', '')}", f"Title: {snapshot.get('title', '')}"]
    if snapshot.get("alerts"):
        lines.append("Alerts: " + " | ".join(snapshot["alerts"]))
    if snapshot.get("headings"):
        lines.append(
            "Headings: "
            + " / ".join(f"{'#' * h['level']} {h['text']}" for h in snapshot["headings"][:20])
        )
    if snapshot.get("inputs"):
        lines.append("Inputs:")
        for item in snapshot["inputs"][:40]:
            label = item.get("label") or item.get("name") or item.get("id") or "?"
            line = f"- [{item.get('type')}] {label!r}"
            if item.get("required"):
                line += " required"
            if item.get("options"):
                options = [
                    o["label"] + (" (selected)" if o.get("selected") else "")
                    for o in item["options"][:25]
                ]
                line += " options: " + " | ".join(options)
            elif "checked" in item:
                line += f" value={item.get('value')!r} checked={item['checked']}"
            elif "value" in item:
                line += f" value={item['value']!r}" if item["value"] else " (empty)"
            elif "filled" in item:
                line += " (filled)" if item["filled"] else " (empty)"
            lines.append(line)
    if snapshot.get("buttons"):
        names = [b["name"] for b in snapshot["buttons"][:40] if b.get("name")]
        lines.append("Buttons: " + " | ".join(repr(name) for name in names))
    if snapshot.get("links"):
        lines.append("Links:")
        for link in snapshot["links"][:60]:
            mark = " (download)" if link.get("download") else ""
            lines.append(f"- {link.get('name')!r} -> {link.get('href')}{mark}")
    for table in (snapshot.get("tables") or [])[:5]:
        title = table.get("caption") or table.get("heading") or f"table {table.get('index')}"
        lines.append(f"Table {title!r}: " + " | ".join(table.get("headers") or []))
        for row in table.get("rows", [])[:15]:
            extra = "".join(f" [link {link['name']!r}]" for link in row.get("links", [])[:3])
            lines.append("  " + " | ".join(row.get("cells", [])) + extra)
        if len(table.get("rows", [])) > 15:
            lines.append(f"  … {len(table['rows']) - 15} more rows (extract_table reads all)")
    if snapshot.get("pairs"):
        lines.append("Values:")
        for pair in snapshot["pairs"][:60]:
            group = f"[{pair['group']}] " if pair.get("group") else ""
            lines.append(f"- {group}{pair['label']}: {pair['value']}")
    text = "\n".join(lines)
    room = limit - len(text) - 20
    if room > 200 and snapshot.get("text"):
        text += "\nText: " + str(snapshot["text"])[:room]
    return text[:limit]


class LlmPlanner:
    """Registered as ``PLANNERS["llm"]``. ``run`` opens a harness; ``explore`` works on an
    open one (the playbook replay hands over mid-flow)."""

    def __init__(self, *, max_turns: int | None = None) -> None:
        self.max_turns = max_turns or settings.DECK_LLM_MAX_STEPS

    def run(self, context: RunContext) -> dict[str, Any]:
        # Checked before a browser opens: a missing endpoint fails the run at once.
        llm = _configured(context)
        with Harness(context) as harness:
            return _Conversation(harness, self.max_turns, llm).run()

    def explore(self, harness: Harness) -> dict[str, Any]:
        return _Conversation(harness, self.max_turns, _configured(harness.context)).run()


def _configured(context: RunContext) -> LlmSettings:
    llm = LlmSettings.from_mapping(context.llm_settings())
    if not llm.base_url or not llm.model:
        raise LlmError(
            "The agent's planner is llm but no model is configured: set its llm_base_url and "
            "llm_model (or DECK_LLM_BASE_URL and DECK_LLM_MODEL).",
            code="llm_unavailable",
        )
    return llm


class _Conversation:
    def __init__(self, harness: Harness, max_turns: int, llm: LlmSettings) -> None:
        self.harness = harness
        self.context = harness.context
        self.max_turns = max_turns
        self.llm = llm
        self.tools = tool_definitions(self.context.output_schema)
        self.validator = Draft202012Validator(self.context.output_schema)
        self.messages: list[dict[str, Any]] = []
        self.sent = 0  # how many of ``messages`` the model has read
        self.output: dict[str, Any] | None = None
        self.login_reported = False
        self.typed_password = False
        self.refused_outputs = 0
        self.failed_actions = 0
        self.tokens = 0  # as the endpoint reports them (usage.total_tokens)

    # -- the loop ----------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        # One connection for the whole conversation: no new TLS handshake every turn.
        with httpx.Client(follow_redirects=False) as self.http:
            return self._converse()

    def _converse(self) -> dict[str, Any]:
        if self.harness.url in ("", "about:blank"):
            self.harness.goto("{{source.url}}", reasoning="Open the site.")
        self.messages = [
            {"role": "system", "content": GUIDANCE},
            {"role": "user", "content": task_message(self.harness)},
        ]
        idle = 0
        for turn in range(1, self.max_turns + 1):
            self.context.checkpoint()
            self._show_page()
            reply = self._ask_model()
            self.tokens += int(reply.usage.get("total_tokens") or 0)
            logger.debug(
                "Run %s: model turn %d asks for %s",
                self.context.run_id,
                turn,
                ", ".join(call.name for call in reply.tool_calls) or "nothing",
            )
            self.messages.append(reply.message)
            if not reply.tool_calls:
                idle += 1
                if idle >= MAX_IDLE_TURNS:
                    raise AgentFailure(
                        "The model stopped calling tools without finishing.",
                        type="task",
                        code="agent_stalled",
                    )
                self.messages.append(
                    {
                        "role": "user",
                        "content": "Use the tools: act on the page, or call finish with the "
                        "output (or fail).",
                    }
                )
                continue
            idle = 0
            self._perform(reply)
            if self.output is not None:
                logger.info(
                    "Run %s: the model finished in %d turns (%d tokens)",
                    self.context.run_id,
                    turn,
                    self.tokens,
                )
                return self.output
        raise AgentFailure(
            f"The model used its {self.max_turns} turns (DECK_LLM_MAX_STEPS) without finishing.",
            type="task",
            code="step_budget_exceeded",
        )

    def _show_page(self) -> None:
        # What the model has already read shrinks: earlier pages to their address, long tool
        # answers (tables, full reads) to their start, so the conversation stays small.
        for message in self.messages[: self.sent]:
            if message.pop("deck_snapshot", False):
                url, title = [*message["content"].split("\n"), "", ""][1:3]
                message["content"] = f"(earlier page) {url} | {title}"
            elif message["role"] == "tool" and len(message["content"]) > OLD_RESULT_CHARS:
                message["content"] = message["content"][:OLD_RESULT_CHARS] + " …(trimmed)"
        snapshot = self.harness.snapshot()
        self.messages.append(
            {
                "role": "user",
                "content": "Page now:\n" + compact_snapshot(snapshot),
                "deck_snapshot": True,
            }
        )

    def _ask_model(self) -> ChatReply:
        outgoing = [
            {key: value for key, value in message.items() if not key.startswith("deck_")}
            for message in self.messages
        ]
        reply = chat(self.llm, self._masked(outgoing), self.tools, client=self.http)
        self.sent = len(self.messages)
        return reply

    def _masked(self, value: Any) -> Any:
        """Belt and braces: whatever the page or a tool showed, no revealed secret leaves."""
        secrets = set(self.context.secrets) | set(self.harness._secrets)
        if self.llm.api_key:
            secrets.add(self.llm.api_key)
        return redact_data(mask_values(value, secrets))

    # -- tool calls ----------------------------------------------------------------------

    def _perform(self, reply: ChatReply) -> None:
        reasoning = (reply.content or "").strip()
        skipped = False
        for call in reply.tool_calls:
            if skipped or self.output is not None:
                self._answer(call, "Skipped: an earlier call in this turn did not go as planned.")
                continue
            result, ok = self._call(call, reasoning)
            self._answer(call, result)
            if not ok:
                skipped = True

    def _answer(self, call: ToolCall, result: Any) -> None:
        text = result if isinstance(result, str) else json.dumps(result, default=str)
        self.messages.append(
            {"role": "tool", "tool_call_id": call.id, "content": text[:RESULT_CHARS]}
        )

    def _call(self, call: ToolCall, reasoning: str) -> tuple[Any, bool]:
        """Perform one tool call: (what to tell the model, whether it went as planned)."""
        if call.arguments_error:
            return f"Not done: {call.arguments_error}.", False
        args = dict(call.arguments)
        why = str(args.pop("reasoning", "") or reasoning)[:500]
        handler = getattr(self, f"_tool_{call.name}", None)
        if handler is None:
            return f"Not done: there is no tool {call.name!r}.", False
        try:
            result = handler(args, why)
        except ActionFailed as exc:
            self.failed_actions += 1
            if self.failed_actions >= MAX_FAILED_ACTIONS:
                raise
            return f"Failed: {exc.message} Look at the page again and try another way.", False
        except (KeyError, TypeError, ValueError) as exc:
            return f"Not done: bad arguments for {call.name} ({exc}).", False
        self.failed_actions = 0
        return result, True

    def _target(self, args: Mapping[str, Any]) -> dict[str, Any]:
        target = args.get("target")
        if not isinstance(target, dict) or not target:
            raise ValueError('target must be an object such as {"label": "Email"}')
        return target

    def _tool_goto(self, args: dict[str, Any], why: str) -> str:
        self.harness.goto(str(args["url"]), reasoning=why)
        return f"Opened {self.harness.url}"

    def _tool_click(self, args: dict[str, Any], why: str) -> str:
        self.harness.click(self._target(args), reasoning=why)
        return f"Clicked. Now at {self.harness.url}"

    def _tool_type(self, args: dict[str, Any], why: str) -> str:
        value = str(args["value"])
        self.harness.type(self._target(args), value, reasoning=why)
        if "{{credential.password}}" in value.replace(" ", ""):
            self.typed_password = True
        return "Typed."

    def _tool_select(self, args: dict[str, Any], why: str) -> str:
        self.harness.select(self._target(args), str(args["value"]), reasoning=why)
        return "Selected."

    def _tool_upload(self, args: dict[str, Any], why: str) -> str:
        self.harness.upload(self._target(args), str(args["field"]), reasoning=why)
        return "Uploaded."

    def _tool_download(self, args: dict[str, Any], why: str) -> dict[str, Any]:
        captured = self.harness.download(self._target(args), reasoning=why)
        storage = captured.get("storage") or {}
        return {
            "downloaded": captured["file_name"],
            "content_type": captured["content_type"],
            "size": captured["size"],
            "storage_id": storage.get("id"),
        }

    def _tool_read_page(self, args: dict[str, Any], why: str) -> str:
        return compact_snapshot(self.harness.read_page(reasoning=why), limit=RESULT_CHARS)

    def _tool_extract_table(self, args: dict[str, Any], why: str) -> Any:
        target = args.get("target") or None
        rows = self.harness.extract_table(target, reasoning=why)
        return {"rows": rows[:100], "total_rows": len(rows)}

    def _tool_screenshot(self, args: dict[str, Any], why: str) -> str:
        self.harness.screenshot(reasoning=why)
        return "Kept."

    def _tool_ask_user(self, args: dict[str, Any], why: str) -> str:
        fields = [
            {"name": str(f["name"]), "type": str(f.get("type") or "text"), "label": str(f["label"])}
            for f in args["fields"]
        ]
        answer = self.harness.ask_user(
            type=str(args["type"]), message=str(args["message"]), fields=fields, reasoning=why
        )
        names = ", ".join(f"{{{{answer.{name}}}}}" for name in sorted(answer))
        return f"The person answered. Use {names} to type the answer."

    def _tool_login_result(self, args: dict[str, Any], why: str) -> str:
        self.login_reported = True
        if args.get("accepted"):
            self.context.login_verified()
            return "Noted: signed in."
        message = str(args.get("message") or "The site rejected the credentials.")
        raise AgentFailure(message, type="source", code="auth_invalid")

    def _tool_record_entities(self, args: dict[str, Any], why: str) -> str:
        found = [dict(item) for item in args["entities"] if isinstance(item, dict)]
        recorded = self.context.record_entities(found)
        self.context.step("record_entities", {"count": len(recorded)}, reasoning=why)
        return f"Recorded {len(recorded)} entities."

    def _tool_finish(self, args: dict[str, Any], why: str) -> str:
        output = args.get("output")
        if not isinstance(output, dict):
            output, problems = {}, ["the output must be an object"]
        else:
            problems = [
                f"{'.'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
                for e in self.validator.iter_errors(output)
            ]
        if problems:
            self.refused_outputs += 1
            if self.refused_outputs >= MAX_OUTPUT_ATTEMPTS:
                raise AgentFailure(
                    "The model's output does not match output_schema: " + "; ".join(problems[:5]),
                    type="task",
                    code="output_invalid",
                )
            return "Not accepted, the output does not match the schema: " + "; ".join(problems[:5])
        if not self.login_reported and (self.typed_password or self.harness.reused):
            # Getting to the end after typing the password (here, or before a pause on the
            # same page) means the site let us in.
            self.context.login_verified()
        self.output = self.harness.finish(output, reasoning=why)
        return "Finished."

    def _tool_fail(self, args: dict[str, Any], why: str) -> str:
        code = str(args.get("code") or "agent_failed")
        kind = "source" if code == "auth_invalid" else "task"
        self.harness.fail(str(args["message"]), code=code, type=kind, reasoning=why)
        return "Failed."  # unreachable: fail raises
