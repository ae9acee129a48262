from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.conf import settings

from tasks.agent.browser import BrowserPool, browser_pool, browser_pool_close
from tasks.agent.runtime import RunContext


@pytest.fixture(scope="module")
def pool() -> Iterator[BrowserPool]:
    """One Chromium for the module: this process's pool, shut down afterwards."""
    if not Path(settings.DECK_CHROMIUM_PATH).exists():
        pytest.skip(f"Chromium is not installed at {settings.DECK_CHROMIUM_PATH}")
    yield browser_pool()
    browser_pool_close()


class Trace:
    """Collects what the harness hands to ``context.step``."""

    def __init__(self) -> None:
        self.steps: list[dict[str, Any]] = []

    def __call__(self, tool: str, detail: dict[str, Any] | None = None, **kwargs: Any) -> None:
        self.steps.append({"tool": tool, "detail": detail or {}, **kwargs})


def page_url(html: str) -> str:
    return "data:text/html," + quote(html)


def bare_context(**fields: Any) -> RunContext:
    """A context without a run row: for the harness alone."""
    defaults: dict[str, Any] = {
        "run_id": "run_harness",
        "organization_id": "org_harness",
        "task_id": "task_harness",
        "task_name": "Harness",
        "prompt": "",
        "input_schema": {"type": "object", "properties": {}},
        "output_schema": {"type": "object", "properties": {}},
        "input": {},
        "source_url": "https://portal.example/",
        "session_id": None,
        "credential_id": None,
        "checkpoint": lambda: None,
        "step": Trace(),
    }
    return RunContext(**(defaults | fields))
