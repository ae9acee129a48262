"""The heuristic planner: generic rules, no model, no per-site code.

State-driven: each step reads the current page and decides from what it shows, so it can start
— or take over — on any page (a playbook replay falls back to it mid-flow). What it knows:

- a **login form** (a password field): fill user name and password from the credential and
  submit; the login page again, or an error next to it, means the source rejected the login
  (``source/auth_invalid``); reaching a page past authentication marks the credential verified;
- **MFA** (a one-time code field): the current code from the credential's TOTP seed, else an
  ``mfa`` interaction; a **security question**: the credential's ``source_fields`` answer that
  matches it, else a ``security_question`` interaction; an **account chooser**: the run's
  scoped entity, an account the input names, else an ``account_selection`` interaction;
- **entities**: accounts, meters, reservations … the first page after login lists;
- **navigation by meaning**: links and buttons scored by the concepts they share with the goal
  (prompt, task name, output field names and descriptions; ``tasks.agent.mapping``);
- **documents**: PDF/CSV links of the relevant rows (newest, or all when the goal is plural)
  when storage is enabled or the goal asks for documents;
- **reads**: label/value pairs, definition lists, tables and cards mapped onto the output
  schema; **writes**: the form whose fields match the input is filled, submitted, a confirm
  step is confirmed and the confirmation read back.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from tasks.agent.harness import ActionFailed, Harness
from tasks.agent.mapping import (
    Mapping_,
    closeness,
    concepts,
    label_score,
    map_snapshot,
    parse_date,
)
from tasks.agent.runtime import AgentFailure, RunContext

logger = logging.getLogger(__name__)

USER_WORDS = re.compile(
    r"user|e-?mail|login|log in|account (?:id|number|no)|customer|member|client|id\b", re.I
)
CODE_WORDS = re.compile(
    r"one[- ]time|verification|authenticat|security code|\bcode\b|\botp\b|2fa|passcode|token",
    re.I,
)
QUESTION_WORDS = re.compile(r"security question|secret question|\?\s*$", re.I)
CHOOSER_WORDS = re.compile(r"(choose|select|pick|switch)\s+(an?\s+|your\s+)?account", re.I)
REJECTED_WORDS = re.compile(
    r"invalid|incorrect|wrong|not (?:recogni[sz]ed|match|valid|found)|failed|try again|"
    r"unable to (?:sign|log)|denied|doesn.t match|locked",
    re.I,
)
AVOID_WORDS = re.compile(
    r"log ?out|sign ?out|log off|help|privacy|terms|contact|cookie|accessibility|"
    r"forgot|reset|register|sign up|enrol|language|skip to",
    re.I,
)
SUBMIT_WORDS = re.compile(
    r"sign in|log ?in|continue|next|submit|verify|confirm|send|go\b|ok\b|pay|save|"
    r"book|schedule|review|place|authori[sz]e|cancel reservation|proceed|done|select|choose",
    re.I,
)
NEGATIVE_BUTTONS = re.compile(r"^(cancel|back|reset|clear|close|no\b|log ?out|sign ?out)", re.I)
DECLINE_WORDS = re.compile(
    r"not now|skip|later|no thanks|don.t|do not|maybe later|remind me|dismiss|continue", re.I
)
CONFIRM_WORDS = re.compile(
    r"confirm|submit|pay now|place|authori[sz]e|yes|complete|finish|make payment", re.I
)
DESTRUCTIVE = re.compile(
    r"\b(pay|cancel|delete|remove|close|submit|confirm|transfer|stop|disconnect|book)\b", re.I
)
DOCUMENT_HREF = re.compile(r"\.(pdf|csv|xlsx?|zip)(?:$|\?)|/(download|export)\b", re.I)
DOCUMENT_TEXT = re.compile(r"\b(pdf|csv|download|export)\b", re.I)
DONE_WORDS = re.compile(
    r"thank you|confirmation (?:number|no|code|#)|successfully|has been (?:paid|submitted|"
    r"scheduled|received|cancel+ed|booked)|payment (?:received|scheduled|submitted)|receipt",
    re.I,
)
WRITE_VERBS = {
    "pay",
    "payment",
    "submit",
    "cancel",
    "book",
    "schedule",
    "update",
    "change",
    "transfer",
    "send",
    "enroll",
    "register",
    "create",
    "make",
    "file",
    "request",
}
READ_VERBS = {"fetch", "get", "list", "download", "read", "show", "find", "view", "check", "see"}
DOCUMENT_WORDS = {"document", "download", "pdf", "csv", "file", "copy", "export"}
ENTITY_KINDS = [
    ("meter", re.compile(r"\bmeter\b", re.I)),
    ("reservation", re.compile(r"reservation|booking|confirmation", re.I)),
    ("policy", re.compile(r"\bpolicy\b", re.I)),
    ("employee", re.compile(r"employee", re.I)),
    ("account", re.compile(r"account|acct|customer (?:number|no|#)", re.I)),
]
IDENTIFIER = re.compile(r"\b([A-Z]{0,4}[-#]?\d[\dA-Z-]{3,})\b")


@dataclass
class Goal:
    concepts: set[str]
    write: bool
    documents: bool
    plural_documents: bool
    latest: bool

    @classmethod
    def of(cls, context: RunContext) -> Goal:
        output = context.output_schema.get("properties") or {}
        text = " ".join(
            [context.task_name, context.prompt]
            + [f"{name} {prop.get('description', '')}" for name, prop in output.items()]
        )
        found = concepts(text)
        lead_text = f"{context.task_name} {context.prompt.split('.')[0]}"
        lead = concepts(lead_text)
        verbs = re.findall(r"[a-z]+", lead_text.lower())
        write = (
            bool(verbs)
            and verbs[0] not in READ_VERBS
            and any(verb in WRITE_VERBS for verb in verbs[:8])
        )
        wants_documents = bool(concepts(" ".join(DOCUMENT_WORDS)) & lead) or bool(
            context.storage_settings.get("enabled")
        )
        raw = f"{context.task_name} {context.prompt}".lower()
        plural = bool(re.search(r"\b(all|every|each|payslips|statements|bills|documents)\b", raw))
        latest = bool(re.search(r"\b(latest|last|newest|recent|current)\b", raw))
        return cls(
            concepts=found,
            write=write,
            documents=wants_documents,
            plural_documents=plural and not latest,
            latest=latest,
        )


@dataclass
class Progress:
    login_submitted: int = 0
    logged_in: bool = False
    codes_submitted: int = 0
    answers_submitted: int = 0
    entities_recorded: bool = False
    entity_selected: bool = False
    visited: list[str] = field(default_factory=list)
    clicked: set[str] = field(default_factory=set)
    went_home: bool = False
    form_submitted: int = 0
    confirmed: int = 0
    downloaded: set[str] = field(default_factory=set)
    seen: dict[str, int] = field(default_factory=dict)
    last: str = ""  # what the previous decision did ("login" right after signing in)


class HeuristicPlanner:
    """``run(context)`` opens the browser; ``explore(harness)`` works on an open one."""

    def run(self, context: RunContext) -> dict[str, Any]:
        with Harness(context) as harness:
            return self.explore(harness)

    def explore(self, harness: Harness) -> dict[str, Any]:
        return _Exploration(harness).run()


class _Exploration:
    def __init__(self, harness: Harness) -> None:
        self.h = harness
        self.context = harness.context
        self.goal = Goal.of(self.context)
        self.progress = Progress()
        self.result = Mapping_(self.context.output_schema)
        self.csv_tables: list[dict[str, Any]] = []
        self.previous = ""  # what the step before this one did

    # -- the loop -----------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        if not self._on_source(self.h.url):
            self.h.goto(self.context.source_url, reasoning="Open the source's website.")
        while True:
            snap = self.h.snapshot()
            key = f"{_strip(snap['url'])}|{self._kind(snap)}"
            self.progress.seen[key] = self.progress.seen.get(key, 0) + 1
            if self.progress.seen[key] > 4:
                self.h.fail(
                    f"The agent is going in circles on {_strip(snap['url'])}.",
                    code="agent_stuck",
                    reasoning="The same page keeps coming back; stop rather than loop.",
                )
            kind = self._kind(snap)
            if snap["url"].startswith("chrome-error:"):
                self.h.fail(
                    "The source's website did not answer.",
                    code="source_unavailable",
                    type="source",
                    reasoning="The browser shows an error page instead of the site.",
                )
            self.previous, self.progress.last = self.progress.last, ""
            if kind == "login":
                self._login(snap)
            elif kind == "username":
                self._username_step(snap)
            elif kind == "mfa":
                self._mfa(snap)
            elif kind == "question":
                self._security_question(snap)
            elif kind == "chooser":
                self._choose_account(snap)
            elif kind == "interstitial":
                self._interstitial(snap)
            else:
                done = self._content(snap)
                if done is not None:
                    return self.h.finish(done, reasoning="The output is complete.")

    # -- what the page is -------------------------------------------------------------------

    def _kind(self, snap: dict[str, Any]) -> str:
        inputs = [i for i in snap["inputs"] if i["type"] not in ("checkbox", "radio", "select")]
        if any(i["type"] == "password" for i in snap["inputs"]):
            return "login"
        text = " ".join([h["text"] for h in snap["headings"]] + [snap["title"]])
        # A challenge page asks for one thing (two at most: a "remember me" text field).
        challenge = not self.progress.logged_in and len(inputs) <= 2
        for item in inputs if challenge else []:
            descriptor = f"{item['label']} {item['name']} {item['autocomplete']}"
            if item["autocomplete"] == "one-time-code" or (
                CODE_WORDS.search(descriptor) and not USER_WORDS.search(descriptor)
            ):
                return "mfa"
            if QUESTION_WORDS.search(item["label"]) or (
                re.search(r"security question|secret question", snap["text"], re.I)
                and re.search(r"answer", descriptor, re.I)
            ):
                return "question"
        if CHOOSER_WORDS.search(text) and not self.progress.entity_selected:
            return "chooser"
        if (
            not self.progress.logged_in
            and not inputs
            and any(b.get("form") is not None for b in snap["buttons"])
            and len([link for link in snap["links"] if not AVOID_WORDS.search(link["name"])]) <= 2
        ):
            return "interstitial"
        if (
            not self.progress.logged_in
            and len(inputs) == 1
            and USER_WORDS.search(f"{inputs[0]['label']} {inputs[0]['name']}")
            and re.search(r"sign in|log ?in|log on|welcome", f"{text} {snap['text'][:300]}", re.I)
        ):
            return "username"
        return "content"

    # -- authentication ---------------------------------------------------------------------

    def _form_inputs(self, snap: dict[str, Any], form: Any) -> list[dict[str, Any]]:
        return [i for i in snap["inputs"] if i.get("form") == form]

    def _submit(self, snap: dict[str, Any], form: Any, *, reasoning: str) -> None:
        buttons = [b for b in snap["buttons"] if b.get("form") == form and b["name"]]
        buttons = [b for b in buttons if not NEGATIVE_BUTTONS.search(b["name"])] or buttons
        ranked = sorted(
            buttons,
            key=lambda b: (
                bool(SUBMIT_WORDS.search(b["name"])),
                b["type"] == "submit",
                len(concepts(b["name"]) & self.goal.concepts),
            ),
            reverse=True,
        )
        if ranked:
            self.h.click(_nth(snap["buttons"], ranked[0]), reasoning=reasoning)
            return
        field_ = self._form_inputs(snap, form)
        if field_:
            self.h.on_page(lambda page: page.keyboard.press("Enter"))
            return
        raise ActionFailed("The form has no button to submit it.")

    @staticmethod
    def _target(item: dict[str, Any]) -> dict[str, Any]:
        if item["label"]:
            return {"label": item["label"]}
        if item["id"]:
            return {"css": f"#{item['id']}"}
        return {"css": f"[name={item['name']!r}]".replace("'", '"')}

    def _rejection(self, snap: dict[str, Any]) -> str:
        for alert in snap["alerts"]:
            if REJECTED_WORDS.search(alert):
                return alert
        match = REJECTED_WORDS.search(snap["text"])
        if match:
            start = max(0, match.start() - 60)
            return snap["text"][start : match.end() + 60].strip()
        return ""

    def _login(self, snap: dict[str, Any]) -> None:
        # Right after submitting the credential the login page again means no; later on it
        # means the session lapsed, and signing in once more is fine.
        if self.previous == "login" or self.progress.login_submitted >= 2:
            reason = self._rejection(snap) or "The login page came back after signing in."
            self.h.fail(
                f"The source rejected the login: {reason}",
                code="auth_invalid",
                type="source",
                reasoning="Still on the login page after submitting the credential.",
            )
        if not self.h.has_credential("password"):
            self.h.fail(
                "The source asks for a password and the credential has none.",
                code="auth_invalid",
                type="source",
            )
        password = next(i for i in snap["inputs"] if i["type"] == "password")
        form = password.get("form")
        candidates = [
            i
            for i in self._form_inputs(snap, form)
            if i["type"] in ("text", "email", "tel", "number") and i is not password
        ]
        user = next(
            (i for i in candidates if USER_WORDS.search(f"{i['label']} {i['name']}")),
            candidates[0] if candidates else None,
        )
        if user is not None and not (
            user.get("value") and user["value"] == self.context.credential_secret("username")
        ):
            self.h.type(
                self._target(user),
                "{{credential.username}}",
                reasoning="Fill the user name of the credential.",
            )
        self.h.type(
            self._target(password),
            "{{credential.password}}",
            reasoning="Fill the password of the credential.",
        )
        self.progress.login_submitted += 1
        self._submit(snap, form, reasoning="Sign in.")
        self.progress.last = "login"

    def _username_step(self, snap: dict[str, Any]) -> None:
        item = next(i for i in snap["inputs"] if i["type"] not in ("checkbox", "radio"))
        self.h.type(
            self._target(item),
            "{{credential.username}}",
            reasoning="The sign-in asks for the user name first.",
        )
        self._submit(snap, item.get("form"), reasoning="Continue to the password.")

    def _code_field(self, snap: dict[str, Any]) -> dict[str, Any]:
        inputs = [i for i in snap["inputs"] if i["type"] not in ("checkbox", "radio", "select")]
        return next(
            (
                i
                for i in inputs
                if i["autocomplete"] == "one-time-code"
                or CODE_WORDS.search(f"{i['label']} {i['name']}")
            ),
            inputs[0],
        )

    def _mfa(self, snap: dict[str, Any]) -> None:
        item = self._code_field(snap)
        # A TOTP code can be refused at the turn of its window: one more try, then ask.
        use_totp = self.h.has_credential("totp") and self.progress.codes_submitted < 2
        if use_totp:
            self.h.type(
                self._target(item),
                "{{credential.totp}}",
                reasoning="Answer the one-time code from the credential's authenticator seed.",
            )
        else:
            if self.progress.codes_submitted >= 4:
                self.h.fail(
                    "The source did not accept the one-time codes.",
                    code="mfa_failed",
                    type="source",
                )
            rejected = self._rejection(snap) if self.progress.codes_submitted else ""
            message = _instructions(snap) or "Enter the one-time code the source sent you."
            if rejected:
                message = f"{rejected} {message}"
            answer = self.h.ask_user(
                type="mfa",
                message=message,
                fields=[{"name": "code", "type": "text", "label": item["label"] or "Code"}],
                reasoning="The source asks for a one-time code the credential cannot produce.",
            )
            if not str(answer.get("code") or "").strip():
                self.h.fail("The MFA answer had no code.", code="mfa_failed", type="source")
            self.h.type(self._target(item), "{{answer.code}}", reasoning="Type the code given.")
        self.progress.codes_submitted += 1
        self._submit(snap, item.get("form"), reasoning="Submit the one-time code.")

    def _security_question(self, snap: dict[str, Any]) -> None:
        inputs = [i for i in snap["inputs"] if i["type"] not in ("checkbox", "radio", "select")]
        item = inputs[0]
        question = item["label"]
        if not QUESTION_WORDS.search(question):
            question = next(
                (line for line in re.split(r"(?<=\?)\s+|\n", snap["text"]) if "?" in line),
                question,
            )
        question = question.strip()
        if self.progress.answers_submitted >= 3:
            self.h.fail(
                "The source did not accept the security answer.", code="mfa_failed", type="source"
            )
        key = None
        if not self.progress.answers_submitted:
            key = self._stored_answer(question)
        if key is not None:
            self.h.type(
                self._target(item),
                f"{{{{credential.{key}}}}}",
                reasoning="Answer the security question from the credential's source fields.",
            )
        else:
            rejected = self._rejection(snap) if self.progress.answers_submitted else ""
            answer = self.h.ask_user(
                type="security_question",
                message=f"{rejected} {question}".strip(),
                fields=[{"name": "answer", "type": "text", "label": question[:200] or "Answer"}],
                reasoning="The source asks a security question the credential has no answer to.",
            )
            if not str(answer.get("answer") or "").strip():
                self.h.fail("The security answer was empty.", code="mfa_failed", type="source")
            self.h.type(self._target(item), "{{answer.answer}}", reasoning="Type the answer given.")
        self.progress.answers_submitted += 1
        self._submit(snap, item.get("form"), reasoning="Submit the security answer.")

    def _interstitial(self, snap: dict[str, Any]) -> None:
        """A question between sign-in and the site ("Remember this device?"): decline what
        would change settings, else go on."""
        buttons = [b for b in snap["buttons"] if b.get("form") is not None and b["name"]]
        choice = next((b for b in buttons if DECLINE_WORDS.search(b["name"])), None)
        choice = choice or next((b for b in buttons if SUBMIT_WORDS.search(b["name"])), buttons[0])
        self.h.click(
            _nth(snap["buttons"], choice), reasoning="Answer the sign-in prompt and go on."
        )
        self.progress.last = "interstitial"

    def _stored_answer(self, question: str) -> str | None:
        fields = self.h.source_fields()
        if not fields:
            return None
        asked = concepts(question)
        best, best_score = None, 0.0
        for key in fields:
            score = closeness(concepts(key), asked) + (
                0.5 if key.strip().lower().rstrip("?") == question.lower().rstrip("?") else 0
            )
            if score > best_score:
                best, best_score = key, score
        if best is not None and best_score >= 0.3:
            return best
        generic = [k for k in fields if re.search(r"security|answer|question", k, re.I)]
        if len(generic) == 1:
            return generic[0]
        return None

    def _mark_logged_in(self, snap: dict[str, Any]) -> None:
        if self.progress.logged_in:
            return
        self.progress.logged_in = True
        # Past authentication that this execution took part in (a resumed run may only have
        # typed the code): the source accepted the credential.
        if (
            self.progress.login_submitted
            or self.progress.codes_submitted
            or self.progress.answers_submitted
        ):
            self.context.login_verified()

    # -- accounts ---------------------------------------------------------------------------

    def _account_options(self, snap: dict[str, Any]) -> list[dict[str, Any]]:
        """What can be picked on an account chooser: radios, select options, links, buttons."""
        options: list[dict[str, Any]] = []
        for item in snap["inputs"]:
            if item["type"] == "radio":
                options.append(
                    {"text": item["label"], "kind": "radio", "target": {"label": item["label"]}}
                )
            elif item["type"] == "select":
                for option in item.get("options") or []:
                    if option["value"]:
                        options.append(
                            {
                                "text": option["label"],
                                "kind": "select",
                                "target": self._target(item),
                                "value": option["label"],
                            }
                        )
        for kind, items in (("link", snap["links"]), ("button", snap["buttons"])):
            for item in items:
                if AVOID_WORDS.search(item["name"]) or NEGATIVE_BUTTONS.search(item["name"]):
                    continue
                if IDENTIFIER.search(item["name"]):
                    text = item["name"]
                elif IDENTIFIER.search(item.get("context") or "") and len(item["name"]) < 30:
                    text = item["context"]  # "Select" on a card that names the account
                else:
                    continue
                options.append({"text": text, "kind": kind, "target": _nth(items, item)})
        # One option per account: a card with a link and a button offers it twice.
        unique: dict[str, dict[str, Any]] = {}
        for option in options:
            match = IDENTIFIER.search(option["text"])
            unique.setdefault(match.group(1) if match else option["text"], option)
        return list(unique.values())

    def _choose_account(self, snap: dict[str, Any]) -> None:
        options = self._account_options(snap)
        if not options:
            self.progress.entity_selected = True
            return
        self._record_entities(snap, options)
        wanted = [
            str(e.get(k) or "") for e in self.context.entities for k in ("external_id", "name")
        ]
        wanted += [str(v) for v in self.context.input.values() if isinstance(v, str | int)]
        choice = None
        for value in [w for w in wanted if w and len(w) >= 3]:
            choice = next((o for o in options if value.lower() in o["text"].lower()), None)
            if choice:
                break
        if choice is None and len(options) == 1:
            choice = options[0]
        if choice is None:
            listing = "; ".join(o["text"] for o in options[:20])
            answer = self.h.ask_user(
                type="account_selection",
                message=f"Which account should the agent use? {listing}",
                fields=[{"name": "account", "type": "text", "label": "Account"}],
                reasoning="Several accounts and nothing says which one.",
            )
            given = str(answer.get("account") or "").strip().lower()
            choice = next(
                (o for o in options if given and given in o["text"].lower()),
                None,
            )
            if choice is None:
                self.h.fail(
                    f"No account on the page matches the answer {answer.get('account')!r}.",
                    code="account_not_found",
                    type="interaction",
                )
        assert choice is not None
        self.progress.entity_selected = True
        reasoning = f"Choose the account {choice['text'][:80]}."
        if choice["kind"] == "select":
            self.h.select(choice["target"], choice["value"], reasoning=reasoning)
        elif choice["kind"] == "radio":
            self.h.select(choice["target"], "on", reasoning=reasoning)
        else:
            self.h.click(choice["target"], reasoning=reasoning)
            return
        form = next(
            (i.get("form") for i in snap["inputs"] if i["type"] in ("radio", "select")), None
        )
        self._submit(snap, form, reasoning="Continue with the chosen account.")

    def _record_entities(
        self, snap: dict[str, Any], options: list[dict[str, Any]] | None = None
    ) -> None:
        if self.progress.entities_recorded:
            return
        self.progress.entities_recorded = True
        found: dict[str, dict[str, Any]] = {}
        for table in snap["tables"]:
            headers = table["headers"]
            id_col, kind = None, None
            for index, header in enumerate(headers):
                for name, pattern in ENTITY_KINDS:
                    if pattern.search(header) and re.search(
                        r"number|no\b|#|\bid\b|account|meter", header, re.I
                    ):
                        id_col, kind = index, name
                        break
                if id_col is not None:
                    break
            if id_col is None:
                continue
            name_col = next(
                (
                    i
                    for i, h in enumerate(headers)
                    if i != id_col and concepts(h) & {"name", "address", "hotel"}
                ),
                None,
            )
            for row in table["rows"]:
                cells = row["cells"]
                if id_col >= len(cells):
                    continue
                match = IDENTIFIER.search(cells[id_col])
                if not match:
                    continue
                attributes = {_key(h): c for h, c in zip(headers, cells, strict=False) if h and c}
                found[match.group(1)] = {
                    "type": kind,
                    "external_id": match.group(1),
                    "name": cells[name_col]
                    if name_col is not None and name_col < len(cells)
                    else cells[id_col],
                    "attributes": attributes,
                }
        cards: dict[Any, list[dict[str, Any]]] = {}
        for pair in snap["pairs"]:
            for name, pattern in ENTITY_KINDS:
                if pattern.search(pair["label"]) and re.search(
                    r"number|no\b|#|\bid\b|confirmation", pair["label"], re.I
                ):
                    match = IDENTIFIER.search(pair["value"])
                    if match and match.group(1) not in found:
                        cards.setdefault(pair.get("card") or 0, [])
                        found[match.group(1)] = {
                            "type": name,
                            "external_id": match.group(1),
                            "name": pair.get("group") or match.group(1),
                            "attributes": {},
                            "_card": pair.get("card") or 0,
                        }
                    break
        for pair in snap["pairs"]:
            for entity in found.values():
                if entity.get("_card") and entity["_card"] == pair.get("card"):
                    entity["attributes"][_key(pair["label"])] = pair["value"]
        # An account switcher lists every account of the login.
        listed = list(options or [])
        for item in snap["inputs"]:
            if item["type"] == "select" and re.search(
                r"account|meter|service", item["label"], re.I
            ):
                listed += [{"text": o["label"]} for o in item.get("options") or []]
        for option in listed:
            match = IDENTIFIER.search(option["text"])
            if match and match.group(1) not in found:
                found[match.group(1)] = {
                    "type": "account",
                    "external_id": match.group(1),
                    "name": _entity_name(option["text"], match),
                    "attributes": {"description": option["text"][:500]},
                }
        entities = [{k: v for k, v in e.items() if not k.startswith("_")} for e in found.values()]
        if entities:
            self.context.record_entities(entities)
            self.h.context.step(
                "record_entities",
                {
                    "entities": [
                        {"type": e["type"], "external_id": e["external_id"]} for e in entities
                    ]
                },
                reasoning="The accounts this login shows.",
            )

    def _scope_values(self) -> list[str]:
        """What names the account this run is for: its scoped entities, then an account
        number the input gives."""
        values = [str(e["external_id"]) for e in self.context.entities if e.get("external_id")]
        values += [str(e["name"]) for e in self.context.entities if e.get("name")]
        values += [str(self.context.input[name]) for name in sorted(self._scope_inputs())]
        return [v for v in values if len(v) >= 3]

    def _select_scoped_entity(self, snap: dict[str, Any]) -> bool:
        """Switch to the run's account when the page offers several (a select, links, rows);
        True when that took an action."""
        if self.progress.entity_selected:
            return False
        self.progress.entity_selected = True
        for value in self._scope_values():
            reasoning = f"The run is for {value}."
            for item in snap["inputs"]:
                if item["type"] != "select":
                    continue
                option = next(
                    (
                        o
                        for o in item.get("options") or []
                        if value in o["label"] or value == o["value"]
                    ),
                    None,
                )
                if option is None:
                    continue
                if option["selected"]:
                    return False
                self.h.select(self._target(item), option["label"], reasoning=reasoning)
                self._submit(snap, item.get("form"), reasoning="Switch to that account.")
                return True
            link = next((x for x in snap["links"] if value in x["name"]), None)
            if link:
                self.h.click(_nth(snap["links"], link), reasoning=reasoning)
                return True
            for table in snap["tables"]:
                for row in table["rows"]:
                    if any(value in c for c in row["cells"]) and row["links"]:
                        self.h.click({"href": row["links"][0]["href"]}, reasoning=reasoning)
                        return True
        return False

    # -- content ----------------------------------------------------------------------------

    def _content(self, snap: dict[str, Any]) -> dict[str, Any] | None:
        self._mark_logged_in(snap)
        self._record_entities(snap)
        if self._select_scoped_entity(snap):
            return None
        url = _strip(snap["url"])
        if url not in self.progress.visited:
            self.progress.visited.append(url)
        if self.goal.write:
            return self._write(snap)
        map_snapshot(
            self.context.output_schema,
            snap,
            self.result,
            goal=self.goal.concepts,
            extra_tables=self.csv_tables,
        )
        if self.goal.documents:
            self._capture_documents(snap)
        if not self.result.missing() and (not self.goal.documents or self.progress.downloaded):
            return self.result.output()
        if self._navigate(snap):
            return None
        return self.result.output()

    def _navigate(self, snap: dict[str, Any]) -> bool:
        """Follow the link or button that best matches the goal; False when none is left."""
        base = urlparse(self.context.source_url)
        candidates: list[tuple[float, dict[str, Any], str]] = []
        for link in snap["links"]:
            name, href = link["name"], link["href"]
            parsed = urlparse(href)
            if not name or AVOID_WORDS.search(name) or href.startswith(("javascript:", "mailto:")):
                continue
            if parsed.netloc and parsed.netloc != base.netloc:
                continue
            if DOCUMENT_HREF.search(href) or link.get("download"):
                continue
            if not self.goal.write and _destructive(name):
                continue  # a read never opens the way to paying, cancelling, deleting
            if (
                _strip(href) in self.progress.visited
                or f"link:{_strip(href)}" in self.progress.clicked
            ):
                continue
            if parsed.fragment and _strip(href) == _strip(snap["url"]):
                continue
            score = self._goal_score(name) + self._named_by_input(
                f"{name} {link.get('context') or ''}"
            )
            if score > 0:
                candidates.append((score, _nth(snap["links"], link), f"link:{_strip(href)}"))
        for button in snap["buttons"]:
            name = button["name"]
            if not name or button.get("form") is not None or AVOID_WORDS.search(name):
                continue
            if not self.goal.write and _destructive(name):
                continue
            if f"button:{name}" in self.progress.clicked:
                continue
            score = self._goal_score(name)
            if score > 0:
                candidates.append((score * 0.9, _nth(snap["buttons"], button), f"button:{name}"))
        if candidates:
            score, target, key = max(candidates, key=lambda c: c[0])
            self.progress.clicked.add(key)
            try:
                self.h.click(target, reasoning=f"'{target['name']}' matches the goal.")
            except ActionFailed:
                return True  # try the next best from the new snapshot
            return True
        if not self.progress.went_home and _strip(snap["url"]) != _strip(self.context.source_url):
            self.progress.went_home = True
            self.h.goto(
                self.context.source_url,
                reasoning="Nothing here leads on; start from the home page.",
            )
            return True
        return False

    def _named_by_input(self, text: str) -> float:
        """The control (or its row/card) names something the input names, like the
        reservation to cancel: a strong hint."""
        values = [
            str(v)
            for v in self.context.input.values()
            if isinstance(v, str | int) and len(str(v)) >= 4 and IDENTIFIER.search(str(v))
        ]
        return 2.0 if any(value in text for value in values) else 0.0

    def _goal_score(self, text: str) -> float:
        seen = concepts(text)
        if not seen:
            return 0.0
        shared = seen & self.goal.concepts
        return len(shared) / len(seen) + 0.1 * len(shared)

    # -- documents --------------------------------------------------------------------------

    def _capture_documents(self, snap: dict[str, Any]) -> None:
        """Download the relevant PDF/CSV links of this page (the newest row, or all)."""
        rows: list[tuple[str, list[dict[str, Any]]]] = []
        best_table, best_score = None, 0.0
        for table in snap["tables"]:
            links = [link for row in table["rows"] for link in row["links"] if _is_document(link)]
            if not links:
                continue
            context = concepts(
                f"{table['caption']} {table['heading']} {' '.join(table['headers'])}"
            )
            score = len(context & self.goal.concepts) + 0.1
            if score > best_score:
                best_table, best_score = table, score
        if best_table is not None:
            ordered = list(best_table["rows"])
            column = next(
                (
                    i
                    for i, h in enumerate(best_table["headers"])
                    if concepts(h) & {"date", "billdate", "paydate", "period", "duedate"}
                ),
                None,
            )
            if column is not None:
                ordered.sort(
                    key=lambda r: (
                        (parse_date(r["cells"][column]) if column < len(r["cells"]) else None) or ""
                    ),
                    reverse=True,
                )
            if not self.goal.plural_documents:
                ordered = ordered[:1]
            for row in ordered[:24]:
                documents = [link for link in row["links"] if _is_document(link)]
                rows.append((" ".join(row["cells"][:3]), documents))
        else:
            loose = [link for link in snap["links"] if _is_document(link)]
            if loose:
                rows = [("", loose if self.goal.plural_documents else loose[:1])]
        for _, links in rows:
            for link in links[:3]:
                href = link["href"]
                if href in self.progress.downloaded:
                    continue
                self.progress.downloaded.add(href)
                # By its name and place ("the first 'Download PDF'") rather than its address:
                # a replay next month wants next month's document.
                shown = next(
                    (x for x in snap["links"] if x["href"] == href and x["name"] == link["name"]),
                    None,
                )
                target = _nth(snap["links"], shown) if shown and shown["name"] else {"href": href}
                captured = self.h.download(
                    target, reasoning=f"Capture the document {link['name'] or href}."
                )
                if captured["content_type"] == "text/csv" or captured["file_name"].endswith(".csv"):
                    table = _csv_table(self.h.downloads[-1]["data"])
                    if table:
                        self.csv_tables.append(table)
        if rows and self.csv_tables:
            map_snapshot(
                self.context.output_schema,
                {"pairs": [], "tables": [], "text": ""},
                self.result,
                goal=self.goal.concepts,
                extra_tables=self.csv_tables,
            )

    # -- writes -----------------------------------------------------------------------------

    def _write(self, snap: dict[str, Any]) -> dict[str, Any] | None:
        fields = self._matched_fields(snap)
        done = DONE_WORDS.search(snap["text"]) and self.progress.form_submitted
        if done:
            map_snapshot(self.context.output_schema, snap, self.result, goal=self.goal.concepts)
            return self.result.output()
        if fields and self.progress.form_submitted < 2:
            form = fields[0][0].get("form")
            self._choose_unmatched(snap, form, {id(item) for item, _ in fields})
            for item, name in fields:
                self._fill(item, name)
            for item in self._form_inputs(snap, form):
                if (
                    item["type"] == "checkbox"
                    and not item.get("checked")
                    and re.search(
                        r"agree|confirm|authori[sz]e|accept|understand", item["label"], re.I
                    )
                ):
                    self.h.select(
                        {"label": item["label"]}, "on", reasoning="Accept the terms to submit."
                    )
            self.progress.form_submitted += 1
            self._submit(snap, form, reasoning="Submit the form with the task's input.")
            return None
        action = self._action_button(snap)
        if action is not None and not self.progress.form_submitted:
            self.progress.form_submitted += 1
            self.h.click(
                _nth(snap["buttons"], action), reasoning=f"'{action['name']}' does the task."
            )
            return None
        if self.progress.form_submitted and self.progress.confirmed < 2:
            confirm = next(
                (
                    b
                    for b in snap["buttons"]
                    if CONFIRM_WORDS.search(b["name"]) and not NEGATIVE_BUTTONS.search(b["name"])
                ),
                None,
            )
            if confirm:
                self.progress.confirmed += 1
                self.h.click(_nth(snap["buttons"], confirm), reasoning="Confirm the submission.")
                return None
        if self.progress.form_submitted:
            rejected = self._rejection(snap)
            map_snapshot(self.context.output_schema, snap, self.result, goal=self.goal.concepts)
            if rejected and not self.result.found:
                self.h.fail(
                    f"The source did not accept the form: {rejected}",
                    code="form_rejected",
                    type="source",
                )
            return self.result.output()
        if self._navigate(snap):
            return None
        self.h.fail("No form on the source matches the task's input.", code="form_not_found")
        return None

    def _field_score(self, item: dict[str, Any], name: str, prop: dict[str, Any]) -> float:
        """How surely a form field takes input property ``name``: its label and its
        ``name`` attribute together (a field named exactly like the property is certain)."""
        attribute = re.sub(r"[^a-z0-9]", "", item["name"].lower())
        if attribute and attribute == re.sub(r"[^a-z0-9]", "", name.lower()):
            return 2.0
        by_label = label_score(name, prop, item["label"]) if item["label"] else 0.0
        by_name = label_score(name, prop, item["name"]) if item["name"] else 0.0
        if item["name"] and concepts(item["name"]) and by_name < 0.45 <= by_label:
            # The label says yes and the name says it is something else ("Account number"
            # of a bank, named bank_account_number): trust the more specific name.
            return (by_label + by_name) / 2
        return max(by_label, by_name)

    def _scope_inputs(self) -> set[str]:
        """Input properties that say WHICH account to act on, not what to type."""
        properties = self.context.input_schema.get("properties") or {}
        scope = set()
        for name, prop in properties.items():
            value = self.context.input.get(name)
            seen = concepts(f"{name} {prop.get('description', '')}")
            if (
                isinstance(value, str)
                and IDENTIFIER.search(value)
                and seen
                & {
                    "accountnumber",
                    "account",
                    "meter",
                }
            ):
                scope.add(name)
        return scope

    def _action_button(self, snap: dict[str, Any]) -> dict[str, Any] | None:
        """A form's button that does what the goal says ("Confirm cancellation") on a page
        with nothing to fill in."""
        if any(
            i["type"] not in ("hidden", "checkbox", "radio") and i.get("form") is not None
            for i in snap["inputs"]
        ):
            return None
        verbs = self.goal.concepts & concepts(" ".join(sorted(WRITE_VERBS)))
        best, best_score = None, 0.0
        for button in snap["buttons"]:
            if button.get("form") is None or not button["name"]:
                continue
            named = concepts(button["name"])
            if NEGATIVE_BUTTONS.search(button["name"]) and not named & verbs:
                continue
            score = len(named & self.goal.concepts) + (
                0.5 if CONFIRM_WORDS.search(button["name"]) else 0
            )
            if named & verbs and score > best_score:
                best, best_score = button, score
        return best

    def _matched_fields(self, snap: dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
        """Visible inputs of one form matched to input properties, best matches first, each
        field and each property used once (the form with the most matches)."""
        properties = self.context.input_schema.get("properties") or {}
        scope = self._scope_inputs()
        scored: list[tuple[float, int, str]] = []
        for index, item in enumerate(snap["inputs"]):
            if item["type"] in ("password", "checkbox", "hidden"):
                continue
            for name, prop in properties.items():
                if name in scope:
                    continue
                if name not in self.context.input and name not in self.context.attachments:
                    continue
                if (item["type"] == "file") != (name in self.context.attachments):
                    continue
                if item["type"] == "radio":
                    value = str(self.context.input.get(name) or "")
                    if not value or value.lower() not in item["label"].lower():
                        continue
                    score = 0.8
                else:
                    score = self._field_score(item, name, prop)
                if score >= 0.5:
                    scored.append((score, index, name))
        taken_fields: set[int] = set()
        taken_names: set[str] = set()
        by_form: dict[Any, list[tuple[dict[str, Any], str]]] = {}
        for _score, index, name in sorted(scored, key=lambda s: -s[0]):
            if index in taken_fields or name in taken_names:
                continue
            taken_fields.add(index)
            taken_names.add(name)
            item = snap["inputs"][index]
            by_form.setdefault(item.get("form"), []).append((item, name))
        if not by_form:
            return []
        chosen = max(by_form.values(), key=len)
        order = {id(item): i for i, item in enumerate(snap["inputs"])}
        return sorted(chosen, key=lambda pair: order[id(pair[0])])

    def _choose_unmatched(self, snap: dict[str, Any], form: Any, filled: set[int]) -> None:
        """Selects and radio groups no input names: the option the goal speaks of ("pay by
        card"), when it is not chosen already."""
        wanted = self.goal.concepts | concepts(" ".join(self.context.input))
        groups: dict[str, list[dict[str, Any]]] = {}
        for item in self._form_inputs(snap, form):
            if id(item) in filled:
                continue
            if item["type"] == "select":
                options = [o for o in item.get("options") or [] if o["value"]]
                best = max(options, key=lambda o: len(concepts(o["label"]) & wanted), default=None)
                if best and not best["selected"] and concepts(best["label"]) & wanted:
                    self.h.select(
                        self._target(item),
                        best["label"],
                        reasoning=f"The goal speaks of '{best['label']}'.",
                    )
            elif item["type"] == "radio":
                groups.setdefault(item["name"] or item["label"], []).append(item)
        for radios in groups.values():
            best = max(radios, key=lambda r: len(concepts(r["label"]) & wanted))
            if not best.get("checked") and concepts(best["label"]) & wanted:
                self.h.select(
                    {"label": best["label"]},
                    "on",
                    reasoning=f"The goal speaks of '{best['label']}'.",
                )

    def _fill(self, item: dict[str, Any], name: str) -> None:
        value = self.context.input.get(name)
        placeholder = f"{{{{input.{name}}}}}"
        reasoning = f"Fill '{item['label'] or item['name']}' with the input {name}."
        if item["type"] == "select":
            wanted = str(value).lower()
            options = item.get("options") or []
            exact = next(
                (o for o in options if wanted in (o["label"].lower(), o["value"].lower())), None
            )
            if exact:
                self.h.select(self._target(item), placeholder, reasoning=reasoning)
                return
            loose = next((o for o in options if wanted and wanted in o["label"].lower()), None)
            if loose:
                self.h.select(self._target(item), loose["label"], reasoning=reasoning)
            return
        if item["type"] == "radio":
            self.h.select({"label": item["label"]}, "on", reasoning=reasoning)
            return
        if item["type"] == "file":
            self.h.upload(self._target(item), name, reasoning=reasoning)
            return
        if isinstance(value, float) and item["type"] in ("text", "number"):
            self.h.type(self._target(item), f"{value:.2f}", reasoning=reasoning)
            return
        self.h.type(self._target(item), placeholder, reasoning=reasoning)

    # -- helpers ----------------------------------------------------------------------------

    def _on_source(self, url: str) -> bool:
        here, source = urlparse(url), urlparse(self.context.source_url)
        return (
            here.scheme in ("http", "https")
            and here.netloc == source.netloc
            and (here.path.startswith(source.path.rstrip("/")) or source.path in ("", "/"))
        )


def _entity_name(text: str, match: re.Match[str]) -> str:
    """What a listing calls an account: the words before its number ("Cabin - Power"), else
    the words after it."""
    before = re.sub(
        r"[\s:#\u2014-]*\b(account|acct|number|no|meter|id)?[\s.:#\u2014-]*$",
        "",
        text[: match.start()],
        flags=re.I,
    ).strip(" -\u2014:")
    if before:
        return before[:200]
    return text[match.end() :].strip(" -\u2014:")[:200] or match.group(1)


def _destructive(text: str) -> bool:
    """A control that changes something (pay, cancel …); "Pay stubs" is only a document."""
    return bool(DESTRUCTIVE.search(text)) and not concepts(text) & concepts("payslip")


def _nth(items: list[dict[str, Any]], item: dict[str, Any]) -> dict[str, Any]:
    """A role target for ``item``, with ``nth`` when other visible controls share its name."""
    role = "link" if "href" in item else "button"
    same = [other for other in items if other["name"] == item["name"]]
    target: dict[str, Any] = {"role": role, "name": item["name"]}
    if len(same) > 1:
        target["nth"] = next(i for i, other in enumerate(same) if other is item)
    return target


def _strip(url: str) -> str:
    return url.split("#")[0].rstrip("/")


def _key(label: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")[:60] or "value"


def _is_document(link: dict[str, Any]) -> bool:
    return bool(
        DOCUMENT_HREF.search(link["href"])
        or link.get("download")
        or DOCUMENT_TEXT.search(link["name"])
    )


def _instructions(snap: dict[str, Any]) -> str:
    for line in re.split(r"(?<=[.!?])\s+", snap["text"]):
        if CODE_WORDS.search(line) and 10 < len(line) < 200:
            return line.strip()
    return ""


def _csv_table(data: bytes) -> dict[str, Any] | None:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    rows = list(csv.reader(io.StringIO(text)))
    if len(rows) < 2:
        return None
    return {
        "index": -1,
        "caption": "csv",
        "heading": "",
        "headers": rows[0],
        "rows": [{"cells": r, "links": [], "buttons": []} for r in rows[1:] if r],
    }


__all__ = ["AgentFailure", "HeuristicPlanner"]
