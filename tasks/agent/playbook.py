"""Learned playbooks: record what a successful run did, replay it, heal it when it no longer fits.

Recording
---------
Every run that explores works through a ``RecordingHarness``. Before a page action acts, the
element it is about to touch is described and every locator that finds *that same element* is
kept, in order of preference: role + name, label, text, href, CSS (with ``nth`` where a
locator matches earlier elements first). A step is::

    {"tool": "click", "targets": [{"role": "link", "name": "Billing"}, {"text": "Billing"},
     {"css": "#nav-billing"}], "value": None, "expect": "/sandbox/x/home", "optional": False}

Values are placeholders only (``{{credential.password}}``, ``{{input.amount}}``,
``{{credential.totp}}``, ``{{answer.code}}``, ``{{source.url}}…``): literals that equal an input
are replaced by its placeholder, in values and in locator texts alike, and a step that would
still hold a secret makes the run unlearnable rather than stored. ``expect`` is the path of
the page the step acted on (ids and numbers folded to ``*``). Login steps (credential values,
answers, the submit right after them) are ``optional``: a run on a session that is already
logged in skips them. The last step maps the final page(s) onto the output schema, naming for
each output property where its value was read: a label/value pair by its label, a table
column by its header (latest row), table rows by their headers, cards, a confirmation in the
text, or the generic mapper on that page (``tasks.agent.mapping``).

Replay and heal
---------------
In ``test`` and ``live`` the latest version replays through the harness: each step's locator
alternatives are tried in turn, placeholders resolve for this run (the TOTP code when typed),
and the output is read again by the recorded mapping and checked against the output schema.
A step that no longer fits — the page is not the one expected, no alternative finds an element,
an action fails, the output is missing or invalid — hands the open page to the explorer (the
agent's heuristic or llm planner), which carries on from where the replay stopped. The run's
steps (the replayed prefix and what the explorer did) become a new version with
``healed_from_version`` set. Every trace step says ``detail.mode``: ``replay`` or ``explore``.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlparse

from jsonschema import Draft202012Validator

from tasks.agent.harness import PLACEHOLDER, ActionFailed, Harness, TargetNotFound
from tasks.agent.mapping import (
    THRESHOLD,
    Mapping_,
    card_rows,
    concepts,
    convert,
    label_score,
    latest_row,
    map_snapshot,
    table_rows,
)
from tasks.agent.runtime import Planner, RunContext

logger = logging.getLogger(__name__)

REPLAY, EXPLORE = "replay", "explore"
PAGE_TOOLS = ("click", "type", "select", "upload", "download")
# How long a replayed step waits for one of its locators to appear (the page may still be
# rendering after the previous action).
LOCATE_SECONDS = 3.0
LOCATOR_KEYS = ("role", "label", "text", "href", "css")

DESCRIBE_JS = """(el) => {
  const clean = (t) => (t || '').replace(/\\s+/g, ' ').trim();
  const tag = el.tagName.toLowerCase();
  const type = (el.getAttribute('type') || '').toLowerCase();
  let role = el.getAttribute('role');
  if (!role) {
    if (tag === 'a' && el.hasAttribute('href')) role = 'link';
    else if (tag === 'button') role = 'button';
    else if (tag === 'select') role = el.multiple ? 'listbox' : 'combobox';
    else if (tag === 'textarea') role = 'textbox';
    else if (tag === 'input') {
      role = {submit: 'button', button: 'button', reset: 'button', image: 'button',
              checkbox: 'checkbox', radio: 'radio', number: 'spinbutton', search: 'searchbox',
              text: 'textbox', email: 'textbox', tel: 'textbox', url: 'textbox', '': 'textbox'
             }[type] || null;
    }
  }
  const byIds = (ids) => clean(ids.split(/\\s+/).map(
    (id) => (document.getElementById(id) || {}).innerText || '').join(' '));
  let label = '';
  if (el.labels && el.labels.length) {
    label = clean(Array.from(el.labels).map((l) => l.innerText || l.textContent).join(' '));
  }
  const aria = el.getAttribute('aria-label');
  const labelled = el.getAttribute('aria-labelledby');
  let name = clean(aria || (labelled ? byIds(labelled) : '') || label);
  if (!name) {
    if (tag === 'input') name = clean(el.value || el.getAttribute('title') || '');
    else if (tag !== 'select' && tag !== 'textarea') {
      name = clean(el.innerText || el.textContent || el.getAttribute('title') || '');
    }
  }
  if (!label) label = clean(aria || (labelled ? byIds(labelled) : '') || el.placeholder || '');
  const formControl = ['input', 'select', 'textarea'].includes(tag);
  const text = formControl ? '' : clean(el.innerText || el.textContent || '');
  const href = tag === 'a' ? (el.getAttribute('href') || '') : '';
  let css = '';
  if (el.id && document.querySelectorAll('#' + CSS.escape(el.id)).length === 1) {
    css = '#' + CSS.escape(el.id);
  } else if (el.getAttribute('name')) {
    css = tag + '[name="' + el.getAttribute('name').replace(/"/g, '\\\\"') + '"]';
  } else {
    const parts = [];
    let node = el;
    while (node && node.nodeType === 1 && node !== document.body && parts.length < 6) {
      let part = node.tagName.toLowerCase();
      if (node.id) { parts.unshift('#' + CSS.escape(node.id)); break; }
      const siblings = node.parentElement
        ? Array.from(node.parentElement.children).filter((s) => s.tagName === node.tagName)
        : [];
      if (siblings.length > 1) part += ':nth-of-type(' + (siblings.indexOf(node) + 1) + ')';
      parts.unshift(part);
      node = node.parentElement;
    }
    css = parts.join(' > ');
  }
  return {role, name: name.slice(0, 120), label: label.slice(0, 120),
          text: text.length <= 80 ? text : '', href, css};
}"""
SAME_JS = "(el, other) => el === other"


class Misfit(Exception):
    """A playbook step no longer fits the page: the explorer takes over from here."""

    def __init__(self, index: int, reason: str) -> None:
        super().__init__(reason)
        self.index = index
        self.reason = reason


def page_path(url: str, values: Iterable[str] = ()) -> str:
    """A page's path with run-specific parts (the run's input values, numbers, long tokens)
    folded to ``*``."""
    path = urlparse(url).path or "/"
    for value in sorted(values, key=len, reverse=True):
        path = path.replace(value, "*")
    path = re.sub(r"[A-Za-z0-9_-]{20,}", "*", path)
    return re.sub(r"\d+", "*", path)


class RecordingHarness(Harness):
    """The harness, keeping every successful action as a parameterised playbook step."""

    def __init__(self, context: RunContext, **kwargs: Any) -> None:
        super().__init__(context, **kwargs)
        self.recorded: list[dict[str, Any]] = []
        # The latest snapshot taken after n recorded steps, by n: where the output was read.
        self.snapshots: dict[int, dict[str, Any]] = {}
        self.unlearnable = ""
        self.replaying = False

    def __enter__(self) -> RecordingHarness:
        self.open()
        return self

    def snapshot(self) -> dict[str, Any]:
        snap = super().snapshot()
        self.snapshots[len(self.recorded)] = snap
        return snap

    # -- parameters -------------------------------------------------------------------

    def input_values(self) -> list[str]:
        return [
            str(value)
            for value in self.context.input.values()
            if isinstance(value, str | int | float)
            and not isinstance(value, bool)
            and len(str(value)) >= 3
        ]

    def page_path(self) -> str:
        return page_path(self.url, self.input_values())

    def _secrets_in(self, text: str) -> bool:
        return any(len(secret) >= 4 and secret in text for secret in self.context.secrets)

    def parameterise_text(self, text: str) -> str | None:
        """A locator text or label with input values as placeholders; None when it would
        still show a secret."""
        for name, known in self.context.input.items():
            if isinstance(known, bool) or not isinstance(known, str | int | float):
                continue
            shown = str(known)
            if len(shown) >= 3 and shown in text:
                text = text.replace(shown, f"{{{{input.{name}}}}}")
        return None if self._secrets_in(text) else text

    def _value(self, value: str) -> str:
        recorded = self.parameterise(value)
        if not PLACEHOLDER.fullmatch(recorded):
            recorded = self.parameterise_text(recorded) or ""
            if not recorded and value:
                self.unlearnable = "a typed value is a secret without a placeholder"
        return recorded

    # -- locators ---------------------------------------------------------------------

    def alternatives(self, target: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Every locator that finds the element ``target`` finds, in order of preference."""
        target = dict(target)
        values = self.input_values()

        # ``_locate`` is the harness's own resolution, so a kept locator is one the replay's
        # tools will resolve the same way.
        def describe(page: Any) -> list[dict[str, Any]]:
            try:
                element = self._locate(page, target)
                info = element.evaluate(DESCRIBE_JS)
                handle = element.element_handle()
            except Exception:
                return [target]  # the action itself will report what is wrong
            candidates: list[dict[str, Any]] = []
            if info.get("role") and info.get("name"):
                candidates.append({"role": info["role"], "name": info["name"]})
            for key in ("label", "text", "href", "css"):
                if info.get(key):
                    candidates.append({key: info[key]})
            plain = {k: v for k, v in target.items() if k != "nth"}
            if plain not in candidates:
                candidates.append(plain)
            # An element named after an input (an account among several) is also found by
            # that value alone, which is how a run with another input finds its own.
            for candidate in list(candidates):
                key = "name" if "role" in candidate else next(iter(candidate))
                shown = str(candidate.get(key) or "")
                for value in values:
                    if key in ("name", "label", "text") and value in shown and value != shown:
                        candidates.insert(
                            candidates.index(candidate) + 1, {**candidate, key: value}
                        )
            verified: list[dict[str, Any]] = []
            for candidate in candidates:
                for nth in range(4):
                    probe = {**candidate, "nth": nth} if nth else dict(candidate)
                    try:
                        found = self._locate(page, probe)
                    except TargetNotFound:
                        break
                    if found.evaluate(SAME_JS, handle):
                        if probe not in verified:
                            verified.append(probe)
                        break
            handle.dispose()
            return verified or [target]

        found = self.pool.call(lambda: describe(self.page))
        source = urlparse(self.context.source_url)
        clean: list[dict[str, Any]] = []
        for alternative in sorted(found, key=_rank):
            kept: dict[str, Any] | None = {}
            for key, value in alternative.items():
                if key == "href" and isinstance(value, str):
                    # The source's own address moves with the deployment; its path does not.
                    parsed = urlparse(value)
                    if parsed.netloc == source.netloc:
                        value = parsed.path + (f"?{parsed.query}" if parsed.query else "")
                if isinstance(value, str) and key != "role":
                    value = self.parameterise_text(value)
                    if value is None:
                        kept = None
                        break
                kept[key] = value  # type: ignore[index]
            if kept and kept not in clean:
                clean.append(kept)
        if any("{{input." in str(alternative) for alternative in clean):
            # The element was chosen by the run's input (an account, a date): locators that do
            # not name it (an id, a position) would pick this run's choice for every run.
            clean = [alternative for alternative in clean if "{{input." in str(alternative)]
        if not clean:
            self.unlearnable = "every locator of an element shows a secret"
        return clean

    # -- recorded tools -----------------------------------------------------------------

    def _page_step(
        self, tool: str, target: Mapping[str, Any], value: str | None, act: Callable[[], Any]
    ) -> Any:
        if self.replaying:
            return act()
        step = {
            "tool": tool,
            "targets": self.alternatives(target),
            "value": None if value is None else self._value(value),
            "expect": self.page_path(),
            "optional": False,
        }
        result = act()
        self._commit(step)
        return result

    def _commit(self, step: dict[str, Any]) -> None:
        value = str(step.get("value") or "")
        login = bool(re.search(r"\{\{\s*(credential|answer)\.", value))
        previous = self.recorded[-1] if self.recorded else None
        if step["tool"] == "ask_user":
            login = True
        elif (
            step["tool"] == "click"
            and previous is not None
            and previous["tool"] == "type"
            and previous["optional"]
        ):
            login = True  # the submit of a login or code form
        step["optional"] = login
        self.recorded.append(step)

    def goto(self, url: str, *, reasoning: str = "") -> None:
        super().goto(url, reasoning=reasoning)
        if not self.replaying:
            self._commit({"tool": "goto", "value": self._value(url), "optional": False})

    def click(self, target: Mapping[str, Any], *, reasoning: str = "") -> None:
        self._page_step(
            "click",
            target,
            None,
            lambda: super(RecordingHarness, self).click(target, reasoning=reasoning),
        )

    def type(self, target: Mapping[str, Any], value: str, *, reasoning: str = "") -> None:
        self._page_step(
            "type",
            target,
            str(value),
            lambda: super(RecordingHarness, self).type(target, value, reasoning=reasoning),
        )

    def select(self, target: Mapping[str, Any], value: str, *, reasoning: str = "") -> None:
        self._page_step(
            "select",
            target,
            str(value),
            lambda: super(RecordingHarness, self).select(target, value, reasoning=reasoning),
        )

    def upload(self, target: Mapping[str, Any], field: str, *, reasoning: str = "") -> None:
        self._page_step(
            "upload",
            target,
            f"{{{{attachment.{field}}}}}",
            lambda: super(RecordingHarness, self).upload(target, field, reasoning=reasoning),
        )

    def download(self, target: Mapping[str, Any], *, reasoning: str = "") -> dict[str, Any]:
        result: dict[str, Any] = self._page_step(
            "download",
            target,
            None,
            lambda: super(RecordingHarness, self).download(target, reasoning=reasoning),
        )
        return result

    def ask_user(
        self, *, type: str, message: str, fields: list[dict[str, Any]], reasoning: str = ""
    ) -> dict[str, Any]:
        expect = self.page_path()
        answer = super().ask_user(type=type, message=message, fields=fields, reasoning=reasoning)
        if not self.replaying:
            question = {"type": type, "message": message, "fields": [dict(f) for f in fields]}
            if self._secrets_in(str(question)):
                self.unlearnable = "an interaction's question shows a secret"
            self._commit(
                {"tool": "ask_user", "target": question, "expect": expect, "optional": True}
            )
        return answer

    # -- the playbook -----------------------------------------------------------------

    def playbook_steps(self, output: Mapping[str, Any]) -> list[dict[str, Any]] | None:
        """The run's steps and its output mapping, or None when they cannot be learned."""
        if self.context.answers and self.reused:
            # This execution resumed after a pause, on the page the pause left open: what it
            # did is the end of the run only, and a replay of the end alone would not fit.
            self.unlearnable = "the run resumed mid-flow after an interaction"
        if self.unlearnable or not self.recorded:
            if self.unlearnable:
                logger.info("Run %s is not learnable: %s", self.context.run_id, self.unlearnable)
            return None
        steps = [dict(step) for step in self.recorded]
        if steps[0]["tool"] != "goto":
            # The run began on a page an earlier run (same session, or this run before a
            # pause) left open; a replay starts from the source's address, where a session
            # that is still signed in skips the optional login steps.
            steps.insert(0, {"tool": "goto", "value": "{{source.url}}", "optional": False})
            # Page indices of the snapshots shift with the inserted step.
            self.snapshots = {index + 1: snap for index, snap in self.snapshots.items()}
        return [*steps, output_mapping(self.context, output, self.snapshots, self)]


def _rank(alternative: Mapping[str, Any]) -> int:
    for index, key in enumerate(LOCATOR_KEYS):
        if key in alternative:
            return index
    return len(LOCATOR_KEYS)


# -- the output mapping ------------------------------------------------------------------


def _same(a: Any, b: Any) -> bool:
    return a == b and a is not None


def _provenance(
    name: str, prop: Mapping[str, Any], value: Any, snap: Mapping[str, Any]
) -> dict[str, Any] | None:
    types = prop.get("type")
    kinds = types if isinstance(types, list) else [types]
    pairs = list(snap.get("pairs") or [])
    tables = list(snap.get("tables") or [])
    if "array" in kinds:
        items = prop.get("items") or {}
        for table in tables:
            rows, _ = table_rows(items, table)
            if rows and rows == value:
                return {"from": "rows", "headers": list(table.get("headers") or [])}
        rows, _ = card_rows(items, pairs)
        if rows and rows == value:
            return {"from": "cards"}
        return None
    for pair in pairs:
        label = str(pair.get("label", ""))
        if label_score(name, prop, label) >= THRESHOLD and _same(
            convert(pair.get("value"), prop, name), value
        ):
            return {"from": "pair", "label": label}
    for table in tables:
        row = latest_row(table)
        if not row:
            continue
        for index, header in enumerate(table.get("headers") or []):
            if (
                label_score(name, prop, header) >= THRESHOLD
                and index < len(row["cells"])
                and _same(convert(row["cells"][index], prop, name), value)
            ):
                return {"from": "cell", "header": header}
    return None


def _goal(context: RunContext) -> set[str]:
    return concepts(f"{context.task_name} {context.prompt}")


def output_mapping(
    context: RunContext,
    output: Mapping[str, Any],
    snapshots: Mapping[int, Mapping[str, Any]],
    harness: RecordingHarness,
) -> dict[str, Any]:
    """The last step: for each output property, the page and the way its value was read."""
    schema = context.output_schema
    fields: dict[str, Any] = {}
    pages = sorted(snapshots, reverse=True)
    for name, prop in (schema.get("properties") or {}).items():
        value = output.get(name)
        if value is None or value == []:
            fields[name] = {"from": "none"}
            continue
        found: dict[str, Any] | None = None
        for page in pages:
            found = _provenance(name, prop, value, snapshots[page])
            if found is not None:
                found["page"] = page
                break
        if found is None:
            # The generic mapper on the page where it alone finds the value (else the last).
            found = {"from": "map", "page": pages[0] if pages else 0}
            for page in pages:
                result = Mapping_(schema)
                map_snapshot(schema, snapshots[page], result, goal=_goal(context))
                if name in result.found and _same(result.found[name].value, value):
                    found["page"] = page
                    break
        for key in ("label", "header"):
            if key in found:
                shown = harness.parameterise_text(str(found[key]))
                if shown is None:
                    found = {"from": "map", "page": found["page"]}
                    break
                found[key] = shown
        if "headers" in found:
            headers = [harness.parameterise_text(str(h)) for h in found["headers"]]
            if any(h is None for h in headers):
                found = {"from": "map", "page": found["page"]}
            else:
                found["headers"] = headers
        fields[name] = found
    return {"tool": "output", "fields": fields}


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().rstrip(":").lower()


def read_output(
    context: RunContext,
    mapping: Mapping[str, Any],
    snapshots: Mapping[int, Mapping[str, Any]],
    resolve: Callable[[str], str],
) -> tuple[dict[str, Any], list[str]]:
    """The output read again by the recorded mapping, and the fields it could not find."""
    schema = context.output_schema
    properties = schema.get("properties") or {}
    result = Mapping_(schema)
    missing: list[str] = []
    last = max(snapshots) if snapshots else 0
    for name, how in (mapping.get("fields") or {}).items():
        prop = properties.get(name)
        if prop is None or how.get("from") == "none":
            continue
        snap = snapshots.get(int(how.get("page", last))) or snapshots.get(last) or {}
        value = _read_field(context, name, prop, how, snap, resolve)
        if value is None or value == []:
            missing.append(name)
        else:
            result.offer(name, value, 1.0)
    return result.output(), missing


def _read_field(
    context: RunContext,
    name: str,
    prop: Mapping[str, Any],
    how: Mapping[str, Any],
    snap: Mapping[str, Any],
    resolve: Callable[[str], str],
) -> Any:
    kind = how.get("from")
    pairs = list(snap.get("pairs") or [])
    tables = list(snap.get("tables") or [])
    if kind == "pair":
        label = _norm(resolve(str(how["label"])))
        for pair in pairs:
            if _norm(str(pair.get("label", ""))) == label:
                return convert(pair.get("value"), prop, name)
        return None
    if kind == "cell":
        header = _norm(resolve(str(how["header"])))
        for table in tables:
            headers = [_norm(str(h)) for h in table.get("headers") or []]
            row = latest_row(table)
            if header in headers and row:
                index = headers.index(header)
                if index < len(row["cells"]):
                    return convert(row["cells"][index], prop, name)
        return None
    if kind == "rows":
        wanted = [_norm(resolve(str(h))) for h in how.get("headers") or []]
        for table in tables:
            if [_norm(str(h)) for h in table.get("headers") or []] == wanted:
                rows, _ = table_rows(prop.get("items") or {}, table)
                return rows
        return None
    if kind == "cards":
        rows, _ = card_rows(prop.get("items") or {}, pairs)
        return rows
    result = Mapping_(context.output_schema)
    map_snapshot(context.output_schema, snap, result, goal=_goal(context))
    found = result.found.get(name)
    return found.value if found else None


# -- replay -------------------------------------------------------------------------------


class Replay:
    """Performs a playbook's steps on an open recording harness; raises ``Misfit``."""

    def __init__(self, harness: RecordingHarness, playbook: Mapping[str, Any]) -> None:
        self.h = harness
        self.context = harness.context
        self.version = int(playbook["version"])
        steps = list(playbook["steps"])
        self.mapping = steps.pop() if steps and steps[-1].get("tool") == "output" else {}
        self.steps = steps

    def run(self) -> dict[str, Any]:
        pages = {
            int(how["page"])
            for how in (self.mapping.get("fields") or {}).values()
            if "page" in how and how.get("from") != "none"
        }
        snapshots: dict[int, dict[str, Any]] = {}
        for index, step in enumerate(self.steps):
            if index in pages:
                snapshots[index] = self.h.snapshot()
            self._perform(index, step)
        snapshots[len(self.steps)] = self.h.snapshot()
        output, missing = read_output(
            self.context, self.mapping, snapshots, lambda text: self._resolve(text)
        )
        end = len(self.steps)
        if missing:
            raise Misfit(end, f"The output's {', '.join(missing)} no longer appear on the page.")
        problems = [
            f"{'.'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
            for e in Draft202012Validator(self.context.output_schema).iter_errors(output)
        ]
        if problems:
            raise Misfit(end, "The replayed output is invalid: " + "; ".join(problems[:3]))
        return self.h.finish(output, reasoning=f"Output read by playbook v{self.version}.")

    def _resolve(self, text: str) -> str:
        if not PLACEHOLDER.search(text):
            return text
        resolved, _ = self.h.resolve(text)
        return resolved

    def _perform(self, index: int, step: Mapping[str, Any]) -> None:
        tool = step.get("tool")
        reasoning = f"Playbook v{self.version}, step {index + 1}."
        self.h.replaying = True
        try:
            if tool == "goto":
                self._act(index, lambda: self.h.goto(str(step["value"]), reasoning=reasoning))
            elif tool == "ask_user":
                question = dict(step.get("target") or {})
                expected = step.get("expect")
                if expected and self.h.page_path() != expected:
                    # Asked on a page this run is not on (signed in already, or not yet at
                    # the challenge): asking now would pause for nothing.
                    if not step.get("optional"):
                        raise Misfit(index, f"Expected the page {expected} to ask the user.")
                    self.h.recorded.append(dict(step))
                    return
                self.h.ask_user(
                    type=question["type"],
                    message=question["message"],
                    fields=question["fields"],
                    reasoning=reasoning,
                )
            elif tool in PAGE_TOOLS:
                target = self._target(index, step)
                if target is None:
                    return  # an optional login step this session no longer needs
                value = step.get("value")
                if tool == "click":
                    self._act(index, lambda: self.h.click(target, reasoning=reasoning))
                elif tool == "type":
                    self._act(index, lambda: self.h.type(target, str(value), reasoning=reasoning))
                elif tool == "select":
                    self._act(index, lambda: self.h.select(target, str(value), reasoning=reasoning))
                elif tool == "upload":
                    match = PLACEHOLDER.fullmatch(str(value))
                    field = match.group(2) if match else str(value)
                    self._act(index, lambda: self.h.upload(target, field, reasoning=reasoning))
                else:
                    self._act(index, lambda: self.h.download(target, reasoning=reasoning))
            else:
                raise Misfit(index, f"The playbook has an unknown step {tool!r}.")
        finally:
            self.h.replaying = False
        # Recorded as the playbook had it, so a faithful replay learns nothing new.
        self.h.recorded.append(dict(step))

    def _act(self, index: int, act: Callable[[], Any]) -> None:
        try:
            act()
        except ActionFailed as exc:
            raise Misfit(index, exc.message) from exc

    def _target(self, index: int, step: Mapping[str, Any]) -> dict[str, Any] | None:
        """The first of the step's locators that finds an element, waiting a little for the
        page to render. An optional (login) step whose page is not shown is skipped (None):
        the session is already signed in. On its page, a step whose locators all fail no
        longer fits."""
        expected = step.get("expect")
        current = self.h.page_path()
        if expected and current != expected:
            if step.get("optional"):
                self.h.recorded.append(dict(step))
                return None
            raise Misfit(index, f"Expected the page {expected}, found {current}.")
        alternatives = []
        for alternative in step.get("targets") or []:
            resolved = {
                key: self._resolve(value) if isinstance(value, str) else value
                for key, value in alternative.items()
            }
            alternatives.append(resolved)

        def first(page: Any) -> dict[str, Any] | None:
            for alternative in alternatives:
                try:
                    self.h._locate(page, alternative)
                except TargetNotFound:
                    continue
                return alternative
            return None

        deadline = time.monotonic() + LOCATE_SECONDS
        while True:
            found = self.h.pool.call(lambda: first(self.h.page))
            if found is not None:
                return found
            if time.monotonic() >= deadline:
                raise Misfit(index, "None of the step's locators finds an element any more.")
            time.sleep(0.1)


# -- the planner ------------------------------------------------------------------------


class PlaybookPlanner:
    """Wraps the agent's explorer: replays the learned playbook first (test, live), falls back
    to exploring from the current page, and leaves what the run did in ``context.learned``."""

    def __init__(self, explorer: Planner) -> None:
        self.explorer = explorer
        self.mode = EXPLORE

    def run(self, context: RunContext) -> dict[str, Any]:
        explore = getattr(self.explorer, "explore", None)
        if explore is None:
            # A planner that cannot take over an open page (a scripted one) runs on its own.
            return self.explorer.run(context)
        self._tag_trace(context)
        playbook = context.playbook if context.task_status in ("test", "live") else None
        healed_from: int | None = None
        with RecordingHarness(context) as harness:
            if playbook and playbook.get("steps"):
                self.mode = REPLAY
                replay = Replay(harness, playbook)
                try:
                    output = replay.run()
                except Misfit as misfit:
                    healed_from = int(playbook["version"])
                    context.step(
                        "playbook",
                        {
                            "playbook_version": healed_from,
                            "fallback": True,
                            "step": misfit.index + 1,
                            "reason": misfit.reason,
                        },
                        reasoning="The playbook no longer fits; exploring from this page.",
                    )
                    self.mode = EXPLORE
                    output = explore(harness)
                    steps = harness.playbook_steps(output)
                else:
                    # A faithful replay records nothing new (its steps hash the same).
                    steps = [*harness.recorded, replay.mapping]
            else:
                output = explore(harness)
                steps = harness.playbook_steps(output)
        if steps is not None:
            context.learned = {"steps": steps, "healed_from_version": healed_from}
        return output

    def _tag_trace(self, context: RunContext) -> None:
        record = context.step

        def step(tool: str, detail: dict[str, Any] | None = None, **kwargs: Any) -> None:
            record(tool, {**(detail or {}), "mode": self.mode}, **kwargs)

        context.step = step
