"""A planner for tests: the task's prompt is a script of steps, so each test says what the
agent does without any browser. Registered through settings.DECK_AGENT_PLANNER."""

from __future__ import annotations

import time
from typing import Any

from tasks.agent.runtime import AgentFailure, RunContext


class ScriptedPlanner:
    """Prompt lines: ``login`` (uses the credential), ``ask mfa code`` (interaction),
    ``sleep SECONDS`` (with checkpoints), ``fail CODE``, ``crash``, ``output {json}``;
    otherwise the output echoes the input."""

    def run(self, context: RunContext) -> dict[str, Any]:
        import json

        output: dict[str, Any] = {"echo": context.input}
        for line in filter(None, (raw.strip() for raw in context.prompt.splitlines())):
            verb, _, rest = line.partition(" ")
            if verb == "login":
                password = context.credential_secret("password")
                context.step("type", {"field": "password", "value": password}, reasoning="log in")
                if password != "hunter2-secret":
                    raise AgentFailure(
                        "The source rejected the login.", type="source", code="auth_invalid"
                    )
            elif verb == "ask":
                answer = context.ask(
                    type="mfa",
                    message="Enter the code we sent you.",
                    fields=[{"name": "code", "type": "text", "label": "Code"}],
                )
                context.step("answer", {"code": answer["code"]})
                if answer["code"] != "123456":
                    # A wrong code: the source asks again.
                    again = context.ask(
                        type="mfa",
                        message="That code was wrong; enter the new one.",
                        fields=[{"name": "code", "type": "text", "label": "Code"}],
                    )
                    if again["code"] != "123456":
                        raise AgentFailure("MFA failed twice.", type="source", code="mfa_failed")
                output["mfa"] = "ok"
            elif verb == "sleep":
                deadline = time.monotonic() + float(rest)
                while time.monotonic() < deadline:
                    time.sleep(0.05)
                    context.checkpoint()
            elif verb == "fail":
                raise AgentFailure("Scripted failure.", code=rest or "agent_failed")
            elif verb == "crash":
                raise RuntimeError("scripted crash")
            elif verb == "output":
                output = json.loads(rest)
            context.step(verb, {"line": line})
        return output
