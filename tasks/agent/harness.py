"""The harness: the tools a planner uses on a real page, with budgets, retries and a trace.

A planner never touches Playwright. It calls the tools below; each one checks the step budget
and the run (``context.checkpoint()``: cancel, deadline), acts with bounded retries on flaky
failures, takes a PNG screenshot with every typed secret masked, and records one trace step
through ``context.step(tool, detail, reasoning=, duration_ms=, screenshot=)``.

Tools
-----
``goto(url)``, ``click(target)``, ``type(target, value)``, ``select(target, value)``,
``press(target, key)``,
``upload(target, field)``, ``download(target)``, ``read_page()``, ``extract_table(target=None)``,
``screenshot()``, ``ask_user(type=, message=, fields=)``, ``finish(output)``,
``fail(message, code=)``. Every tool takes ``reasoning=`` (shown in the trace).

Targets
-------
A target is a dict describing an element the way a person would, resolved in this order of
preference (the first that matches a visible element wins)::

    {"role": "button", "name": "Sign in"}   # accessible role and name (exact, then contains)
    {"label": "Email"}                      # form control by its label (then placeholder)
    {"text": "Billing history"}             # visible text (exact, then contains)
    {"href": "/bills/2025-01.pdf"}          # a link by its address (absolute or as written)
    {"css": "form#pay button"}              # last resort

Optional ``"nth": n`` picks the n-th visible match (0-based).

Values and placeholders
-----------------------
``type``/``select`` values may be literals or placeholders, resolved by the harness so the
planner never holds a secret:

    {{credential.username}}  {{credential.password}}  {{credential.totp}} (the current code from
    the credential's TOTP seed)  {{credential.<field>}} (a key of the credential's
    source_fields)  {{input.<name>}}  {{answer.<field>}} (the latest interaction answer)
    {{source.url}} (the source's URL, for ``goto``)

A literal that equals one of those values is recorded as the placeholder all the same.

Recorded actions (stable format — the playbooks branch replays it)
-----------------------------------------------------------------
``harness.actions`` lists every SUCCESSFUL tool call that changes or reads the page, in order,
each a dict with exactly the keys ``tool``, ``target``, ``value``:

    {"tool": "goto",     "target": None,        "value": "{{source.url}}bills"}
    {"tool": "click",    "target": {<target>},  "value": None}
    {"tool": "type",     "target": {<target>},  "value": "{{credential.password}}" | "literal"}
    {"tool": "select",   "target": {<target>},  "value": "{{input.account}}" | "literal"}
    {"tool": "press",    "target": {<target>},  "value": "Enter"}
    {"tool": "upload",   "target": {<target>},  "value": "{{attachment.<field>}}"}
    {"tool": "download", "target": {<target>},  "value": None}
    {"tool": "ask_user", "target": {"type": ..., "message": ..., "fields": [...]}, "value": None}

``read_page``, ``extract_table``, ``screenshot``, ``finish`` and ``fail`` are not recorded
(they do not change the page). Replaying is calling the same tools with the same arguments:
``harness.replay(action)``.

Resuming
--------
A run paused by ``ask_user`` resumes in the same browser context (kept per session). On that
kept page only the LATEST answer is pending: the first ``ask_user`` after ``open`` returns it.
On a fresh page (the browser was restarted) answers are handed out from the first again.

Secrets
-------
A value resolved from the credential's password, TOTP or source fields, from a tokenized input,
from an interaction answer, or equal to any secret the vault revealed in this run is shown as
``"[secret]"`` in the trace, registered with ``deck.redaction`` and masked in every screenshot
(the element it was typed into is marked; inputs showing a secret value are drawn as discs,
text showing one is blanked) for the rest of the run.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import logging
import mimetypes
import re
import struct
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from email.message import Message
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlparse

import pyotp
from django.conf import settings

from deck.redaction import register_secret
from tasks.agent.browser import BrowserPool, Lease, browser_pool
from tasks.agent.runtime import AgentFailure, InteractionNeeded, RunContext

logger = logging.getLogger(__name__)

SECRET = "[secret]"
SNAPSHOT_JS = (Path(__file__).with_name("snapshot.js")).read_text()
PLACEHOLDER = re.compile(r"\{\{\s*(credential|input|answer|source|attachment)\.([^{}]+?)\s*\}\}")
RETRIES = 3
RECORDED_TOOLS = ("goto", "click", "type", "select", "press", "upload", "download", "ask_user")

MASK_JS = """(secrets) => {
  const style = document.createElement('style');
  style.id = 'deck-secret-mask';
  style.textContent = '[data-deck-masked]{-webkit-text-security:disc!important;' +
    'caret-color:transparent!important;}' +
    '[data-deck-masked-text]{color:transparent!important;background:#777!important;' +
    'text-shadow:none!important;}';
  document.documentElement.appendChild(style);
  let masked = 0;
  const holds = (text) => secrets.some((s) => text && text.includes(s));
  for (const el of document.querySelectorAll('input, textarea')) {
    if (el.type === 'password' && !el.hasAttribute('data-deck-secret')) continue;
    if (el.hasAttribute('data-deck-secret') || holds(el.value)) {
      el.setAttribute('data-deck-masked', '');
      masked += 1;
    }
  }
  if (secrets.length) {
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    while (walker.nextNode()) {
      const node = walker.currentNode;
      if (holds(node.nodeValue) && node.parentElement) {
        node.parentElement.setAttribute('data-deck-masked-text', '');
        masked += 1;
      }
    }
  }
  return masked;
}"""
UNMASK_JS = """() => {
  document.getElementById('deck-secret-mask')?.remove();
  for (const el of document.querySelectorAll('[data-deck-masked],[data-deck-masked-text]')) {
    el.removeAttribute('data-deck-masked');
    el.removeAttribute('data-deck-masked-text');
  }
}"""


class ActionFailed(AgentFailure):
    """A tool could not act on the page (no such element, it never became actionable)."""

    def __init__(self, message: str, *, code: str = "action_failed") -> None:
        super().__init__(message, type="task", code=code)


class TargetNotFound(ActionFailed):
    def __init__(self, target: Mapping[str, Any]) -> None:
        super().__init__(f"No element matches {describe(target)}.", code="target_not_found")
        self.target = dict(target)


def describe(target: Mapping[str, Any] | None) -> str:
    if not target:
        return "the page"
    return json.dumps(dict(target), ensure_ascii=False, sort_keys=True)


def _flaky(exc: BaseException) -> bool:
    from playwright.sync_api import Error, TimeoutError

    if isinstance(exc, TimeoutError):
        return True
    if isinstance(exc, Error):
        text = exc.message.lower()
        return any(
            word in text
            for word in ("detached", "not attached", "context was destroyed", "navigat", "closed")
        )
    return isinstance(exc, TargetNotFound)


class Harness:
    """One run's hands on the browser. Use as a context manager (or ``open``/``close``)."""

    def __init__(
        self,
        context: RunContext,
        *,
        pool: BrowserPool | None = None,
        max_steps: int | None = None,
        screenshots: bool | None = None,
    ) -> None:
        self.context = context
        self.pool = pool or browser_pool()
        self.max_steps = max_steps or settings.DECK_AGENT_MAX_STEPS
        self.screenshots = settings.DECK_AGENT_SCREENSHOTS if screenshots is None else screenshots
        self.actions: list[dict[str, Any]] = []
        self.downloads: list[dict[str, Any]] = []
        self.steps = 0
        self.last_answer: dict[str, Any] = {}
        self.lease: Lease | None = None
        # What the page must never show back (trace, screenshots, snapshots). Interaction
        # answers join only once typed: an account number picked from a list is read back
        # from the page to act on it.
        answered = {str(v) for answer in context.answers for v in answer.values()}
        self._secrets: set[str] = {s for s in context.secrets if s and s not in answered}
        self._credential: dict[str, str | None] = {}
        self._tokenized = set(context.input_schema.get("tokenized") or [])

    # -- lifecycle --------------------------------------------------------------------

    def open(self) -> Harness:
        from tasks.models import Session

        def ended(ids: list[str]) -> list[str]:
            return list(
                Session.objects.filter(pk__in=ids, status__in=Session.ENDED).values_list(
                    "pk", flat=True
                )
            )

        self.pool.prune(ended)
        self.lease = self.pool.open(key=self.context.run_id, session_id=self.context.session_id)
        if self.lease.reused and self.context.answers:
            # Resuming on the very page that paused: the earlier answers were already typed
            # there, only the latest one is pending. (A fresh page replays them all.)
            self.context._asked = len(self.context.answers) - 1
        return self

    def close(self) -> None:
        if self.lease is not None:
            self.pool.release(self.lease)
            self.lease = None

    def __enter__(self) -> Harness:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def reused(self) -> bool:
        """True when the page carries an earlier run's state (same session, or a resume)."""
        return bool(self.lease and self.lease.reused)

    @property
    def page(self) -> Any:
        if self.lease is None:
            raise RuntimeError("The harness is not open.")
        return self.lease.page

    @property
    def url(self) -> str:
        return str(self.pool.call(lambda: self.page.url))

    def on_page(self, fn: Callable[[Any], Any]) -> Any:
        """Run ``fn(page)`` on the browser thread (for reads the tools do not cover)."""
        return self.pool.call(lambda: fn(self.page))

    # -- values -----------------------------------------------------------------------

    def _credential_value(self, name: str) -> str | None:
        if name in self._credential:
            return self._credential[name]
        if name in ("username", "password"):
            value = self.context.credential_secret(name)
        elif name == "totp":
            seed = self._totp_seed()
            if not seed:
                return None
            # A code is valid for a window only: resolve afresh each time.
            value = totp_now(seed)
            self._secret(value)
            return value
        else:
            fields = self.source_fields()
            value = fields.get(name)
        self._credential[name] = value
        if value and name != "username":
            self._secret(value)
        return value

    def source_fields(self) -> dict[str, str]:
        """The credential's extra fields (security answers, PINs …), revealed on demand."""
        if "__source_fields" not in self._credential:
            raw = self.context.credential_secret("source_fields")
            self._credential["__source_fields"] = raw
        raw = self._credential["__source_fields"]
        try:
            fields = json.loads(raw) if raw else {}
        except ValueError:
            fields = {}
        if not isinstance(fields, dict):
            return {}
        for value in fields.values():
            if isinstance(value, str) and value:
                self._secret(value)
        return {str(k): str(v) for k, v in fields.items() if v is not None}

    def has_credential(self, name: str) -> bool:
        """Whether the credential holds ``name`` (without revealing it to the planner)."""
        if name == "totp":
            return bool(self._totp_seed())
        return bool(self._credential_value(name))

    def _totp_seed(self) -> str | None:
        if "__totp_seed" not in self._credential:
            seed = self.context.credential_secret("totp_secret")
            seed = seed.replace(" ", "") if seed else None
            self._credential["__totp_seed"] = seed
            if seed:
                self._secret(seed)
        return self._credential["__totp_seed"]

    def _secret(self, value: str) -> None:
        if value:
            self._secrets.add(value)
            self.context.secrets.add(value)
            register_secret(value)

    def resolve(self, value: str) -> tuple[str, bool]:
        """The value a placeholder stands for, and whether it is a secret."""
        secret = False

        def sub(match: re.Match[str]) -> str:
            nonlocal secret
            scope, name = match.group(1), match.group(2)
            if scope == "credential":
                resolved = self._credential_value(name)
                secret = secret or name != "username"
            elif scope == "input":
                raw = self.context.input.get(name)
                resolved = raw if isinstance(raw, str) else None if raw is None else str(raw)
                secret = secret or name in self._tokenized
            elif scope == "answer":
                raw = self.last_answer.get(name)
                resolved = None if raw is None else str(raw)
                secret = True
            elif scope == "source":
                resolved = self.context.source_url if name == "url" else None
            else:
                resolved = None
            if resolved is None:
                raise ActionFailed(
                    f"{match.group(0)} has no value in this run.", code="value_missing"
                )
            return resolved

        resolved = PLACEHOLDER.sub(sub, value)
        if resolved in self._secrets:
            secret = True
        if secret:
            self._secret(resolved)
        return resolved, secret

    def parameterise(self, value: str) -> str:
        """A literal as the placeholder it equals, so recorded actions hold no secrets or
        run-specific data."""
        if PLACEHOLDER.search(value):
            return value
        for name, known in self._credential.items():
            if known and value == known and not name.startswith("__"):
                return f"{{{{credential.{name}}}}}"
        seed = self._credential.get("__totp_seed")
        if seed and value == totp_now(seed):
            return "{{credential.totp}}"
        for name, known in self.context.input.items():
            if isinstance(known, str | int | float) and known != "" and value == str(known):
                return f"{{{{input.{name}}}}}"
        for name, known in self.last_answer.items():
            if known not in (None, "") and value == str(known):
                return f"{{{{answer.{name}}}}}"
        source = self.context.source_url
        if source and value.startswith(source):
            return "{{source.url}}" + value[len(source) :]
        return value

    def _shown(self, value: str, secret: bool) -> str:
        return SECRET if secret or value in self._secrets else value

    # -- the step machinery ------------------------------------------------------------

    def _budget(self, tool: str) -> None:
        if self.steps >= self.max_steps:
            raise AgentFailure(
                f"The agent used its {self.max_steps} steps (DECK_AGENT_MAX_STEPS) without "
                "finishing.",
                type="task",
                code="step_budget_exceeded",
            )
        self.steps += 1
        self.context.checkpoint()

    def _locate(self, page: Any, target: Mapping[str, Any]) -> Any:
        candidates: list[Any] = []
        role, name = target.get("role"), target.get("name")
        if role:
            if name:
                candidates += [
                    page.get_by_role(role, name=name, exact=True),
                    page.get_by_role(role, name=name),
                ]
            else:
                candidates.append(page.get_by_role(role))
        if target.get("label"):
            label = target["label"]
            candidates += [
                page.get_by_label(label, exact=True),
                page.get_by_label(label),
                page.get_by_placeholder(label),
            ]
        if target.get("text"):
            text = target["text"]
            candidates += [page.get_by_text(text, exact=True), page.get_by_text(text)]
        if target.get("href"):
            href = str(target["href"])
            path = urlparse(href).path or href
            candidates += [
                page.locator(f"a[href={json.dumps(href)}]"),
                page.locator(f"a[href$={json.dumps(path)}]"),
            ]
        if target.get("css"):
            candidates.append(page.locator(target["css"]))
        nth = int(target.get("nth") or 0)
        for locator in candidates:
            count = locator.count()
            if not count:
                continue
            seen = 0
            for index in range(min(count, 50)):
                item = locator.nth(index)
                if item.is_visible():
                    if seen == nth:
                        return item
                    seen += 1
            if count > nth and not seen:
                # Hidden controls styled away (custom radios): act through Playwright's force.
                return locator.nth(nth)
        raise TargetNotFound(target)

    def _attempt(self, action: Callable[[Any], Any]) -> Any:
        """``action(page)`` on the browser thread, retried on flaky failures."""

        def run() -> Any:
            last: BaseException | None = None
            for attempt in range(RETRIES):
                try:
                    return action(self.page)
                except Exception as exc:
                    if not _flaky(exc) or attempt == RETRIES - 1:
                        raise
                    last = exc
                    # Best effort: let a navigation in flight land before the retry.
                    with contextlib.suppress(Exception):
                        self.page.wait_for_load_state("domcontentloaded", timeout=3000)
                    time.sleep(0.15 * (attempt + 1))
            raise AssertionError(last)  # unreachable: the loop returns or raises

        return self.pool.call(run)

    def _settle(self, page: Any) -> None:
        # A page still loading is read as it is.
        with contextlib.suppress(Exception):
            page.wait_for_load_state(
                "domcontentloaded", timeout=settings.DECK_AGENT_ACTION_TIMEOUT_MS
            )

    def _capture_screen(self) -> bytes | None:
        if not self.screenshots or self.lease is None:
            return None
        secrets = sorted(s for s in self._secrets if len(s) >= 4)

        def shoot() -> bytes | None:
            page = self.page
            try:
                page.evaluate(MASK_JS, secrets)
                try:
                    return bytes(page.screenshot(type="png", timeout=5000, animations="disabled"))
                finally:
                    page.evaluate(UNMASK_JS)
            except Exception as exc:
                logger.info("No screenshot for run %s: %s", self.context.run_id, type(exc).__name__)
                return None

        return self.pool.call(shoot)

    @contextmanager
    def _step(
        self,
        tool: str,
        detail: dict[str, Any],
        *,
        reasoning: str,
        action: dict[str, Any] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Budget, run the body, then trace it (with a screenshot) and record the action."""
        self._budget(tool)
        started = time.monotonic()
        try:
            yield detail
        except InteractionNeeded:
            detail["paused"] = True
            self._record(tool, detail, reasoning, started)
            raise
        except AgentFailure as exc:
            detail["error"] = exc.message
            self._record(tool, detail, reasoning, started)
            raise
        except Exception as exc:
            from playwright.sync_api import Error

            if not isinstance(exc, Error):
                raise
            detail["error"] = exc.message.splitlines()[0][:300]
            self._record(tool, detail, reasoning, started)
            raise ActionFailed(f"{tool} failed on {describe(detail.get('target'))}.") from exc
        self._record(tool, detail, reasoning, started)
        if action is not None:
            self.actions.append(action)

    def _record(self, tool: str, detail: dict[str, Any], reasoning: str, started: float) -> None:
        if self.lease is not None and "url" not in detail:
            detail["url"] = self.pool.call(lambda: self.page.url)
        duration = int((time.monotonic() - started) * 1000)
        self.context.step(
            tool,
            detail,
            reasoning=reasoning,
            duration_ms=duration,
            screenshot=self._capture_screen(),
        )

    # -- tools ------------------------------------------------------------------------

    def goto(self, url: str, *, reasoning: str = "") -> None:
        resolved, _ = self.resolve(url)
        resolved = urljoin(self.context.source_url or "", resolved)
        with self._step(
            "goto",
            {"url_requested": resolved},
            reasoning=reasoning,
            action={"tool": "goto", "target": None, "value": self.parameterise(url)},
        ):
            self._attempt(lambda page: page.goto(resolved, wait_until="domcontentloaded"))

    def click(self, target: Mapping[str, Any], *, reasoning: str = "") -> None:
        target = dict(target)
        with self._step(
            "click",
            {"target": target},
            reasoning=reasoning,
            action={"tool": "click", "target": target, "value": None},
        ):

            def act(page: Any) -> None:
                self._locate(page, target).click()
                self._settle(page)

            self._attempt(act)

    def type(self, target: Mapping[str, Any], value: str, *, reasoning: str = "") -> None:
        target = dict(target)
        resolved, secret = self.resolve(str(value))
        recorded = self.parameterise(str(value))
        with self._step(
            "type",
            {"target": target, "value": self._shown(resolved, secret)},
            reasoning=reasoning,
            action={"tool": "type", "target": target, "value": recorded},
        ):

            def act(page: Any) -> None:
                element = self._locate(page, target)
                if secret:
                    element.evaluate("el => el.setAttribute('data-deck-secret', '')")
                element.fill(resolved)

            self._attempt(act)

    def select(self, target: Mapping[str, Any], value: str, *, reasoning: str = "") -> None:
        target = dict(target)
        resolved, secret = self.resolve(str(value))
        with self._step(
            "select",
            {"target": target, "value": self._shown(resolved, secret)},
            reasoning=reasoning,
            action={"tool": "select", "target": target, "value": self.parameterise(str(value))},
        ):

            def act(page: Any) -> None:
                element = self._locate(page, target)
                kind = element.evaluate("el => el.tagName + ':' + (el.type || '')").lower()
                if kind.startswith("input:radio") or kind.startswith("input:checkbox"):
                    element.check()
                    return
                try:
                    element.select_option(label=resolved, timeout=1500)
                except Exception:
                    element.select_option(value=resolved)
                self._settle(page)

            self._attempt(act)

    def press(self, target: Mapping[str, Any], key: str, *, reasoning: str = "") -> None:
        """Press a key in an element ("Enter" submits a form that has no button)."""
        target = dict(target)
        with self._step(
            "press",
            {"target": target, "key": key},
            reasoning=reasoning,
            action={"tool": "press", "target": target, "value": key},
        ):

            def act(page: Any) -> None:
                self._locate(page, target).press(key)
                self._settle(page)

            self._attempt(act)

    def upload(self, target: Mapping[str, Any], field: str, *, reasoning: str = "") -> None:
        target = dict(target)
        attachment = self.context.attachments.get(field)
        if not attachment or not attachment.get("path"):
            raise ActionFailed(
                f"The run has no attachment for input {field!r}.", code="value_missing"
            )
        path = str(attachment["path"])
        with self._step(
            "upload",
            {"target": target, "field": field, "file_name": attachment.get("file_name")},
            reasoning=reasoning,
            action={"tool": "upload", "target": target, "value": f"{{{{attachment.{field}}}}}"},
        ):
            self._attempt(lambda page: self._locate(page, target).set_input_files(path))

    def download(self, target: Mapping[str, Any], *, reasoning: str = "") -> dict[str, Any]:
        """Fetch the file a link (or button) leads to and hand it to ``context.capture``."""
        target = dict(target)
        with self._step(
            "download",
            {"target": target},
            reasoning=reasoning,
            action={"tool": "download", "target": target, "value": None},
        ) as detail:
            file_name, content_type, data = self._attempt(
                lambda page: _fetch(page, self._locate(page, target))
            )
            summary = self.context.capture(
                file_name=file_name, content_type=content_type, data=data
            )
            captured = {
                "file_name": file_name,
                "content_type": content_type,
                "size": len(data),
                "storage": summary,
            }
            self.downloads.append({**captured, "data": data})
            detail.update(
                file_name=file_name,
                content_type=content_type,
                size=len(data),
                storage_id=(summary or {}).get("id"),
            )
        return captured

    def read_page(self, *, reasoning: str = "") -> dict[str, Any]:
        """A compact snapshot: headings, links, buttons, inputs with labels, tables,
        label/value pairs, alerts and the main text."""
        with self._step("read_page", {}, reasoning=reasoning) as detail:
            snapshot = self.snapshot()
            detail.update(
                title=snapshot["title"],
                headings=[h["text"] for h in snapshot["headings"][:10]],
                counts={
                    key: len(snapshot[key])
                    for key in ("links", "buttons", "inputs", "tables", "pairs")
                },
            )
        return snapshot

    def snapshot(self) -> dict[str, Any]:
        """``read_page`` without a trace step (planners peek between steps)."""

        def read(page: Any) -> dict[str, Any]:
            self._settle(page)
            return dict(page.evaluate(SNAPSHOT_JS))

        snapshot: dict[str, Any] = self._attempt(read)
        return self._mask_snapshot(snapshot)

    def _mask_snapshot(self, snapshot: dict[str, Any]) -> dict[str, Any]:
        secrets = [s for s in self._secrets if len(s) >= 4]
        if not secrets:
            return snapshot

        def mask(item: Any) -> Any:
            if isinstance(item, str):
                for secret in secrets:
                    item = item.replace(secret, SECRET)
                return item
            if isinstance(item, dict):
                return {key: mask(child) for key, child in item.items()}
            if isinstance(item, list):
                return [mask(child) for child in item]
            return item

        return dict(mask(snapshot))

    def extract_table(
        self, target: Mapping[str, Any] | None = None, *, reasoning: str = ""
    ) -> list[dict[str, Any]]:
        """Rows of a table as dicts keyed by header. ``target`` picks the table by
        ``{"text": caption or heading}``, ``{"nth": i}`` or ``{"css": ...}``; else the first."""
        with self._step(
            "extract_table", {"target": dict(target or {})}, reasoning=reasoning
        ) as detail:
            tables = self.snapshot()["tables"]
            if target and target.get("css"):
                css = target["css"]
                index = self._attempt(
                    lambda page: page.evaluate(
                        "(css) => Array.from(document.querySelectorAll('table'))"
                        ".indexOf(document.querySelector(css))",
                        css,
                    )
                )
                tables = [t for t in tables if t["index"] == index]
            elif target and target.get("text"):
                wanted = str(target["text"]).lower()
                tables = [
                    t for t in tables if wanted in (t["caption"] + " " + t["heading"]).lower()
                ]
            elif target and "nth" in target:
                tables = tables[int(target["nth"]) :]
            if not tables:
                raise TargetNotFound(target or {"css": "table"})
            table = tables[0]
            width = max([len(table["headers"])] + [len(r["cells"]) for r in table["rows"]])
            named = list(table["headers"]) + [""] * width
            headers = [named[i] or f"column_{i + 1}" for i in range(width)]
            rows = [
                {
                    headers[i] if i < len(headers) else f"column_{i + 1}": cell
                    for i, cell in enumerate(row["cells"])
                }
                for row in table["rows"]
            ]
            detail.update(headers=headers, rows=len(rows))
        return rows

    def screenshot(self, *, reasoning: str = "") -> None:
        with self._step("screenshot", {}, reasoning=reasoning):
            pass

    def ask_user(
        self, *, type: str, message: str, fields: list[dict[str, Any]], reasoning: str = ""
    ) -> dict[str, Any]:
        """The person's answer (the run pauses until there is one: ``InteractionNeeded``)."""
        question = {"type": type, "message": message, "fields": [dict(f) for f in fields]}
        with self._step(
            "ask_user",
            {"interaction": question},
            reasoning=reasoning,
            action={"tool": "ask_user", "target": question, "value": None},
        ) as detail:
            answer = self.context.ask(type=type, message=message, fields=fields)
            detail["answered"] = sorted(answer)
        # Typed with {{answer.<field>}} it becomes a secret of the page (resolve marks it).
        self.last_answer = dict(answer)
        return self.last_answer

    def finish(self, output: dict[str, Any], *, reasoning: str = "") -> dict[str, Any]:
        with self._step("finish", {"fields": sorted(output)}, reasoning=reasoning):
            pass
        return output

    def fail(
        self, message: str, *, code: str = "agent_failed", type: str = "task", reasoning: str = ""
    ) -> None:
        with self._step("fail", {"code": code, "message": message}, reasoning=reasoning):
            pass
        raise AgentFailure(message, type=type, code=code)

    # -- replay ------------------------------------------------------------------------

    def replay(self, action: Mapping[str, Any], *, reasoning: str = "") -> Any:
        """Perform one recorded action again (placeholders resolved for this run)."""
        tool, target, value = action["tool"], action.get("target"), action.get("value")
        if tool == "goto":
            return self.goto(str(value), reasoning=reasoning)
        if tool == "click":
            return self.click(target or {}, reasoning=reasoning)
        if tool == "type":
            return self.type(target or {}, str(value), reasoning=reasoning)
        if tool == "select":
            return self.select(target or {}, str(value), reasoning=reasoning)
        if tool == "press":
            return self.press(target or {}, str(value), reasoning=reasoning)
        if tool == "upload":
            match = PLACEHOLDER.fullmatch(str(value))
            field = match.group(2) if match else str(value)
            return self.upload(target or {}, field, reasoning=reasoning)
        if tool == "download":
            return self.download(target or {}, reasoning=reasoning)
        if tool == "ask_user":
            question = dict(target or {})
            return self.ask_user(
                type=question["type"],
                message=question["message"],
                fields=question["fields"],
                reasoning=reasoning,
            )
        raise ActionFailed(f"Unknown recorded tool {tool!r}.", code="action_invalid")


def totp_now(seed: str) -> str:
    """The current 6-digit code for a base32 seed (RFC 6238, 30 s, SHA-1). pyotp refuses
    seeds under 112 bits; real sites hand them out all the same, so those are computed here."""
    try:
        return pyotp.TOTP(seed).now()
    except ValueError:
        pass
    try:
        key = base64.b32decode(seed.upper() + "=" * (-len(seed) % 8))
    except (ValueError, binascii.Error) as exc:
        raise AgentFailure(
            "The credential's TOTP secret is not a base32 seed.", type="source", code="totp_invalid"
        ) from exc
    counter = struct.pack(">Q", int(time.time()) // 30)
    digest = hmac.new(key, counter, hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    code = (int.from_bytes(digest[offset : offset + 4], "big") & 0x7FFFFFFF) % 1_000_000
    return f"{code:06d}"


def _fetch(page: Any, element: Any) -> tuple[str, str, bytes]:
    """The bytes behind a link (fetched with the page's cookies) or a download button."""
    href = element.get_attribute("href")
    if href and not href.startswith(("javascript:", "#")):
        url = urljoin(page.url, href)
        response = page.context.request.get(url)
        if not response.ok:
            raise ActionFailed(
                f"The download answered HTTP {response.status}.", code="download_failed"
            )
        headers = response.headers
        content_type = headers.get("content-type", "").split(";")[0].strip()
        file_name = _disposition_name(headers.get("content-disposition", "")) or unquote(
            Path(urlparse(url).path).name
        )
        data = response.body()
    else:
        with page.expect_download() as info:
            element.click()
        download = info.value
        file_name = download.suggested_filename
        data = Path(download.path()).read_bytes()
        content_type = ""
    if not content_type or content_type == "application/octet-stream":
        content_type = (
            mimetypes.guess_type(file_name)[0] or content_type or "application/octet-stream"
        )
    return file_name or "download", content_type, data


def _disposition_name(header: str) -> str:
    if not header:
        return ""
    message = Message()
    message["content-disposition"] = header
    name = message.get_filename() or ""
    return Path(name).name
