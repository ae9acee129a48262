"""A planner for storage tests: the task's prompt says which files the agent captures, and
the output reports what the agent received as attachments."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

from tasks.agent.runtime import RunContext


class FilePlanner:
    """Prompt lines: ``capture NAME CONTENT_TYPE BASE64``; ``output {json}``. The output
    lists the attachments seen (sha256, path) and the capture summaries."""

    def run(self, context: RunContext) -> dict[str, Any]:
        captured: list[Any] = []
        attachments = {
            name: {
                **{k: v for k, v in info.items() if k != "path"},
                "path": info["path"],
                "exists": Path(info["path"]).is_file(),
                "sha256": hashlib.sha256(Path(info["path"]).read_bytes()).hexdigest(),
            }
            for name, info in context.attachments.items()
        }
        output: dict[str, Any] | None = None
        for line in filter(None, (raw.strip() for raw in context.prompt.splitlines())):
            verb, _, rest = line.partition(" ")
            if verb == "capture":
                name, content_type, data = rest.split(" ")
                captured.append(
                    context.capture(
                        file_name=name, content_type=content_type, data=base64.b64decode(data)
                    )
                )
            elif verb == "output":
                output = json.loads(rest)
        return output if output is not None else {"attachments": attachments, "captured": captured}
