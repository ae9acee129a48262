from __future__ import annotations

import json
from typing import Any, ClassVar, cast

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from deck.errors import DeckError, InvalidInputs
from deck.events.models import EVENT_TYPES
from tasks import definitions
from tasks.drafting import TaskDraft
from tasks.models import Agent, Credential, Source, Task


class LoginForm(AuthenticationForm):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Members sign in with their email address, which is also their username.
        self.fields["username"].label = "Email"


class ApiKeyCreateForm(forms.Form):
    name = forms.CharField(
        max_length=200,
        help_text="Say where the key is used, e.g. “billing sync (production)”.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )


# -- domain errors onto forms ------------------------------------------------------------


class ConsoleForm(forms.Form):
    """A form whose domain errors (``DeckError.field`` is an API path such as
    ``input_schema.properties`` or ``settings.timeout_seconds``) land next to the field."""

    # API path (or its leading part) → form field; unmatched paths become non-field errors.
    error_fields: ClassVar[dict[str, str]] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    def field_for(self, path: str | None) -> str | None:
        """The field for an API path: the longest ``error_fields`` prefix that matches it."""
        best: tuple[int, str | None] = (-1, None)
        for prefix, name in self.error_fields.items():
            matches = path == prefix or (
                path is not None and path.startswith(prefix) and path[len(prefix)] in ".["
            )
            if matches and name in self.fields and len(prefix) > best[0]:
                best = (len(prefix), name)
        return best[1]

    def add_deck_error(self, error: DeckError) -> None:
        for item in error.errors if isinstance(error, InvalidInputs) else [error]:
            self.add_error(self.field_for(item.field), self.message_for(item))

    def message_for(self, error: DeckError) -> str:
        return error.message


class JsonObjectField(forms.CharField):
    """A JSON object typed into a textarea (the console's JSON editors)."""

    widget = forms.Textarea

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("strip", True)
        super().__init__(*args, **kwargs)
        self.widget.attrs.update(
            {"data-json": "", "rows": 10, "spellcheck": "false", "class": "code-input"}
        )

    json_type: type = dict
    json_shape = "a JSON object: { … }"

    def to_python(self, value: Any) -> Any:
        text = super().to_python(value)
        if not text:
            return None
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValidationError(
                f"Not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."
            ) from exc
        if not isinstance(parsed, self.json_type):
            raise ValidationError(f"Must be {self.json_shape}.")
        return parsed

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, self.json_type):
            return json.dumps(value, indent=2)
        return value


# -- agents and sources -------------------------------------------------------------------


class AgentForm(ConsoleForm):
    """Name, description and how the agent explores; the model API key is write-only."""

    error_fields = {
        "name": "name",
        "description": "description",
        "planner": "planner",
        "llm_base_url": "llm_base_url",
        "llm_model": "llm_model",
        "llm_api_key": "llm_api_key",
    }

    name = forms.CharField(max_length=200)
    description = forms.CharField(
        max_length=5000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="What this agent is for, e.g. “utility bills for the finance team”.",
    )
    planner = forms.ChoiceField(
        choices=[
            ("heuristic", "Heuristic (built in, no model)"),
            ("llm", "Language model (OpenAI-compatible endpoint)"),
        ],
        initial="heuristic",
        required=False,
        help_text="How the agent explores a site while a task is learning.",
    )
    llm_base_url = forms.CharField(
        label="Model endpoint",
        max_length=2000,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "https://api.openai.com/v1"}),
        help_text="For the language model planner. Blank: the deployment's DECK_LLM_BASE_URL.",
    )
    llm_model = forms.CharField(
        label="Model",
        max_length=200,
        required=False,
        help_text="Blank: the deployment's DECK_LLM_MODEL.",
    )
    llm_api_key = forms.CharField(
        label="Model API key",
        max_length=2000,
        required=False,
        strip=True,
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}, render_value=False),
        help_text="Kept encrypted in the vault and never shown again.",
    )
    remove_llm_api_key = forms.BooleanField(label="Remove the stored API key", required=False)

    def __init__(self, *args: Any, agent: Agent | None = None, **kwargs: Any) -> None:
        if agent is not None:
            kwargs.setdefault(
                "initial",
                {
                    "name": agent.name,
                    "description": agent.description,
                    "planner": agent.planner,
                    "llm_base_url": agent.llm_base_url,
                    "llm_model": agent.llm_model,
                },
            )
        super().__init__(*args, **kwargs)
        if agent is not None and agent.llm_api_key_token:
            self.fields[
                "llm_api_key"
            ].help_text = (
                "A key is stored (not shown). Type a new one to replace it, or leave blank."
            )
        else:
            del self.fields["remove_llm_api_key"]

    def changes(self) -> dict[str, Any]:
        """The cleaned form as the agent services take it; a blank key keeps the stored one."""
        data = self.cleaned_data
        changes = {
            name: data[name] for name in ("name", "description", "llm_base_url", "llm_model")
        }
        if data.get("planner"):
            changes["planner"] = data["planner"]
        if data.get("remove_llm_api_key"):
            changes["llm_api_key"] = ""
        elif data.get("llm_api_key"):
            changes["llm_api_key"] = data["llm_api_key"]
        return changes


class SourceForm(ConsoleForm):
    error_fields = {"name": "name", "website.url": "url", "interaction_timeout_seconds": "timeout"}

    name = forms.CharField(max_length=200)
    url = forms.URLField(
        label="URL",
        max_length=2000,
        assume_scheme="https",
        help_text="The page where the agent starts, usually the login page.",
    )
    timeout = forms.IntegerField(
        label="Interaction timeout (seconds)",
        min_value=10,
        max_value=86400,
        required=False,
        help_text="How long a paused run waits for a person's answer (MFA code, security "
        "question). Leave blank for the deployment default.",
    )

    def __init__(self, *args: Any, source: Source | None = None, **kwargs: Any) -> None:
        if source is not None:
            kwargs.setdefault(
                "initial",
                {
                    "name": source.name,
                    "url": source.url,
                    "timeout": source.interaction_timeout_seconds,
                },
            )
        super().__init__(*args, **kwargs)
        if source is not None and source.interaction_timeout_seconds is not None:
            # The API keeps a set timeout when none is given, so blank cannot mean "default".
            self.fields["timeout"].required = True
            self.fields["timeout"].help_text = "How long a paused run waits for a person's answer."


# -- credentials --------------------------------------------------------------------------

SOURCE_FIELD_ROWS = 10


def _secret_input(**attrs: str) -> forms.PasswordInput:
    # render_value=False: a secret typed into a form never comes back in a page.
    return forms.PasswordInput(render_value=False, attrs={"autocomplete": "off", **attrs})


class CredentialForm(ConsoleForm):
    """Create or edit. Secrets are write-only: the edit form starts blank, and a blank secret
    keeps the stored one."""

    error_fields = {
        "source_id": "source",
        "auth_credentials.username": "username",
        "auth_credentials.password": "password",
        "auth_credentials.totp_secret": "totp_secret",
        "auth_credentials.source_fields": "source_field_name_0",
        "external_id": "external_id",
    }

    source = forms.ChoiceField()
    auth_method = forms.ChoiceField(
        label="Sign-in",
        choices=[
            (Credential.AuthMethod.USERNAME_PASSWORD, "Username and password"),
            (Credential.AuthMethod.NONE, "None (the source needs no login)"),
        ],
    )
    username = forms.CharField(
        max_length=500, required=False, widget=forms.TextInput(attrs={"autocomplete": "off"})
    )
    password = forms.CharField(max_length=2000, required=False, widget=_secret_input())
    totp_secret = forms.CharField(
        label="TOTP seed",
        max_length=500,
        required=False,
        widget=_secret_input(),
        help_text="The base32 seed shown when the authenticator app was set up; the agent "
        "computes the codes itself.",
    )
    external_id = forms.CharField(
        label="External id",
        max_length=255,
        required=False,
        help_text="Your own id for this login (a customer or user id), to find it again.",
    )

    def __init__(
        self, *args: Any, sources: list[Source], credential: Credential | None = None, **kwargs: Any
    ) -> None:
        self.credential = credential
        if credential is not None:
            initial = {"username": credential.username, "external_id": credential.external_id}
            initial |= {
                f"source_field_name_{index}": name
                for index, name in enumerate(credential.source_field_names)
            }
            kwargs.setdefault("initial", initial)
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["source"]).choices = [("", "Choose a source…")] + [
            (source.id, f"{source.name} ({source.url})") for source in sources
        ]
        for index in range(SOURCE_FIELD_ROWS):
            self.fields[f"source_field_name_{index}"] = forms.CharField(
                label=f"Field {index + 1} name",
                max_length=64,
                required=False,
                widget=forms.TextInput(attrs={"autocomplete": "off", "placeholder": "name"}),
            )
            self.fields[f"source_field_value_{index}"] = forms.CharField(
                label=f"Field {index + 1} value",
                max_length=2000,
                required=False,
                widget=_secret_input(placeholder="value"),
            )
        if credential is not None:
            # The source and the sign-in method are fixed once the credential exists.
            del self.fields["source"], self.fields["auth_method"]
            self.fields["password"].help_text = "Leave blank to keep the stored password."
            self.fields["totp_secret"].help_text = "Leave blank to keep the stored seed."

    @property
    def source_field_rows(self) -> list[tuple[forms.BoundField, forms.BoundField]]:
        shown = len(self.credential.source_field_names) if self.credential else 0
        count = min(SOURCE_FIELD_ROWS, max(3, shown + 2))
        return [
            (self[f"source_field_name_{index}"], self[f"source_field_value_{index}"])
            for index in range(count)
        ]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        fields: dict[str, str] = {}
        for index in range(SOURCE_FIELD_ROWS):
            name = cleaned.get(f"source_field_name_{index}", "")
            value = cleaned.get(f"source_field_value_{index}", "")
            if value and not name:
                self.add_error(f"source_field_name_{index}", "Give this value a name.")
            elif name and value:
                if name in fields:
                    self.add_error(f"source_field_name_{index}", f"{name} is listed twice.")
                fields[name] = value
        cleaned["source_fields"] = fields
        if cleaned.get("auth_method") == Credential.AuthMethod.NONE:
            secrets = ("username", "password", "totp_secret")
            if fields or any(cleaned.get(name) for name in secrets):
                self.add_error(
                    "auth_method", "A source without a login takes no username or secrets."
                )
        if self.credential is not None and not fields:
            named = [
                cleaned.get(f"source_field_name_{index}", "") for index in range(SOURCE_FIELD_ROWS)
            ]
            renamed = [name for name in named if name] != list(self.credential.source_field_names)
            if renamed:
                self.add_error(
                    "source_field_name_0",
                    "Values are never shown back: to change the fields, enter the value of "
                    "every field you keep.",
                )
        return cleaned

    def auth_credentials_for_create(self) -> dict[str, Any] | None:
        data = self.cleaned_data
        if data["auth_method"] == Credential.AuthMethod.NONE:
            return None
        auth: dict[str, Any] = {"username": data["username"], "password": data["password"]}
        if data["totp_secret"]:
            auth["totp_secret"] = data["totp_secret"]
        if data["source_fields"]:
            auth["source_fields"] = data["source_fields"]
        return auth

    def changes_for_update(self) -> dict[str, Any]:
        """Only what changed: any auth change sends the credential back to unverified."""
        assert self.credential is not None
        data = self.cleaned_data
        auth: dict[str, Any] = {}
        if data["username"] and data["username"] != self.credential.username:
            auth["username"] = data["username"]
        for secret in ("password", "totp_secret"):
            if data[secret]:
                auth[secret] = data[secret]
        if data["source_fields"]:
            auth["source_fields"] = data["source_fields"]
        return {"auth_credentials": auth or None, "external_id": data["external_id"]}


# -- tasks --------------------------------------------------------------------------------

DEFAULT_INPUT_SCHEMA = {
    "type": "object",
    "properties": {"start_date": {"type": "string", "format": "date"}},
}
DEFAULT_OUTPUT_SCHEMA = {
    "type": "object",
    "properties": {"amount_due": {"type": "number"}, "due_date": {"type": "string"}},
}


class TaskDescribeForm(ConsoleForm):
    description = forms.CharField(
        label="Describe the job",
        max_length=4000,
        widget=forms.Textarea(
            attrs={
                "rows": 3,
                "placeholder": "e.g. Get my last three electricity bills with amount and due "
                "date, and download the PDFs",
            }
        ),
        help_text="In plain words: what to fetch or do, which fields you want back, how many, "
        "and whether to keep the files. You review the draft before anything is saved.",
    )


class TaskForm(ConsoleForm):
    error_fields = {
        "name": "name",
        "agent_id": "agent",
        "prompt": "prompt",
        "input_schema": "input_schema",
        "output_schema": "output_schema",
        "storage": "storage_enabled",
        "storage.extraction_schema": "extraction_schema",
        "storage.extraction_prompt": "extraction_prompt",
        "storage.deduplication_schema": "deduplication_schema",
        "settings.timeout_seconds": "timeout_seconds",
        "type": "type",
        "scope": "scope",
    }

    name = forms.CharField(max_length=200)
    agent = forms.ChoiceField()
    type = forms.ChoiceField(
        label="Type",
        required=False,
        choices=[("", "Infer from the task"), *Task.Type.choices],
        help_text="Read jobs extract information; write jobs act inside the session.",
    )
    scope = forms.ChoiceField(
        label="Scope",
        required=False,
        choices=[("", "Infer from the task"), *Task.Scope.choices],
        help_text="Left empty: documents when files are captured, an upload when the task "
        "takes attachments, otherwise metadata (read) or an action (write).",
    )
    prompt = forms.CharField(
        max_length=20_000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text="What the agent should do, in plain words. The input is given to it as well.",
    )
    input_schema = JsonObjectField(
        label="Input schema",
        initial=DEFAULT_INPUT_SCHEMA,
        help_text="JSON Schema 2020-12 for the run input. List secret properties in "
        '<code>"tokenized"</code>: they go to the vault and are never stored with the run.',
    )
    output_schema = JsonObjectField(
        label="Output schema",
        initial=DEFAULT_OUTPUT_SCHEMA,
        help_text="JSON Schema 2020-12 the run's output must match.",
    )
    storage_enabled = forms.BooleanField(
        label="Capture files", required=False, help_text="Keep documents the agent downloads."
    )
    extraction = forms.BooleanField(label="Extract data from captured files", required=False)
    extraction_schema = JsonObjectField(label="Extraction schema", required=False)
    extraction_prompt = forms.CharField(
        label="Extraction prompt",
        max_length=20_000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    deduplication = forms.BooleanField(label="Skip files captured before", required=False)
    deduplication_schema = JsonObjectField(
        label="Deduplication schema",
        required=False,
        help_text="The scalar fields that identify a document, e.g. invoice number and date.",
    )
    timeout_seconds = forms.IntegerField(
        label="Timeout (seconds)",
        initial=1800,
        min_value=1,
        help_text="A run still going after this long fails with a timeout.",
    )
    review_required = forms.BooleanField(
        label="Require review",
        required=False,
        help_text="Finished runs wait for a person to approve or reject the result.",
    )

    def __init__(
        self,
        *args: Any,
        agents: list[Agent],
        task: Task | None = None,
        validate_url: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.task = task
        if task is not None:
            kwargs.setdefault("initial", self.initial_for(task))
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["agent"]).choices = [("", "Choose an agent…")] + [
            (agent.id, agent.name) for agent in agents
        ]
        for name in ("input_schema", "output_schema"):
            self.fields[name].widget.attrs["rows"] = 16
        for name in ("extraction_schema", "deduplication_schema"):
            self.fields[name].widget.attrs["rows"] = 5
        if validate_url:
            # Live validation: each JSON editor asks the server to run the task definition
            # checks on the whole form as the user types; the verdict replaces its status line.
            for name in self.JSON_FIELDS:
                self.fields[name].widget.attrs.update(
                    {
                        "hx-post": validate_url,
                        "hx-trigger": "input changed delay:600ms",
                        "hx-target": f"#id_{name}_check",
                        "hx-swap": "outerHTML",
                        "hx-include": "closest form",
                        "hx-vals": json.dumps({"check": name}),
                        "hx-sync": "this:replace",
                    }
                )

    JSON_FIELDS: ClassVar[tuple[str, ...]] = (
        "input_schema",
        "output_schema",
        "extraction_schema",
        "deduplication_schema",
    )

    @staticmethod
    def initial_for(task: Task) -> dict[str, Any]:
        storage = task.storage
        return {
            "name": task.name,
            "agent": task.agent_id,
            "prompt": task.prompt,
            "input_schema": task.input_schema,
            "output_schema": task.output_schema,
            "storage_enabled": storage.get("enabled", False),
            "extraction": storage.get("extraction", False),
            "extraction_schema": storage.get("extraction_schema"),
            "extraction_prompt": storage.get("extraction_prompt") or "",
            "deduplication": storage.get("deduplication", False),
            "deduplication_schema": storage.get("deduplication_schema"),
            "timeout_seconds": task.timeout_seconds,
            "review_required": task.review_required,
            "type": task.type,
            "scope": task.scope,
        }

    @staticmethod
    def initial_from_draft(draft: TaskDraft, agent_id: str | None) -> dict[str, Any]:
        storage = definitions.storage_normalize(draft.storage)
        return {
            "name": draft.name,
            "agent": agent_id,
            "prompt": draft.prompt,
            "input_schema": draft.input_schema,
            "output_schema": draft.output_schema,
            "storage_enabled": storage["enabled"],
            "extraction": storage["extraction"],
            "extraction_schema": storage["extraction_schema"],
            "extraction_prompt": storage["extraction_prompt"] or "",
            "deduplication": storage["deduplication"],
            "deduplication_schema": storage["deduplication_schema"],
            "type": draft.type,
            "scope": draft.scope,
        }

    def storage(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "enabled": data["storage_enabled"],
            "extraction": data["extraction"],
            "extraction_schema": data["extraction_schema"],
            "extraction_prompt": data["extraction_prompt"] or None,
            "deduplication": data["deduplication"],
            "deduplication_schema": data["deduplication_schema"],
        }

    def changes(self) -> dict[str, Any]:
        """What ``task_update`` takes; schemas are sent whole (an edit replaces them)."""
        data = self.cleaned_data
        return {
            "name": data["name"],
            "agent_id": data["agent"],
            "prompt": data["prompt"],
            "input_schema": data["input_schema"],
            "output_schema": data["output_schema"],
            # Every storage key is given, so a cleared schema really clears.
            "storage": self.storage(),
            "settings": {
                "timeout_seconds": data["timeout_seconds"],
                "review_required": data["review_required"],
            },
            "type": data["type"] or None,
            "scope": data["scope"] or None,
        }

    def check_definition(self, field: str) -> list[str]:
        """The problems with ``field`` (a JSON editor): its own parse errors, else the first
        task definition check that points at it. Other fields' problems are theirs to show."""
        self.is_valid()
        if field in self.errors:
            return [str(error) for error in self.errors[field]]
        data = self.cleaned_data
        needed = ("input_schema", "output_schema", *self.JSON_FIELDS, "timeout_seconds")
        if any(name in self.errors for name in needed):
            return []
        if data.get(field) is None:
            return []
        try:
            definitions.task_definition_check(
                input_schema=data["input_schema"],
                output_schema=data["output_schema"],
                storage=definitions.storage_normalize(self.storage()),
                timeout_seconds=data["timeout_seconds"],
            )
        except DeckError as error:
            if self.field_for(error.field) == field:
                return [error.message]
        return []


# -- event destinations ------------------------------------------------------------------

HEADER_ROWS = 5


class EventDestinationForm(ConsoleForm):
    """Create a webhook or a RabbitMQ destination. Header values and the server URL are
    secrets: they go to the vault and never come back in a page."""

    error_fields = {
        "type": "type",
        "events": "events",
        "url": "url",
        "custom_headers": "header_name_0",
        "server_url": "server_url",
        "exchange": "exchange",
    }

    type = forms.ChoiceField(
        choices=[("webhook", "Webhook (HTTPS POST)"), ("rabbitmq", "RabbitMQ exchange")],
        widget=forms.RadioSelect,
        initial="webhook",
    )
    all_events = forms.BooleanField(
        label="All events", required=False, help_text="Including event types added later."
    )
    events = forms.MultipleChoiceField(
        label="Events",
        required=False,
        choices=[],
        widget=forms.CheckboxSelectMultiple,
    )
    url = forms.CharField(
        label="URL",
        max_length=2000,
        required=False,
        widget=forms.URLInput(attrs={"autocomplete": "off", "placeholder": "https://"}),
    )
    server_url = forms.CharField(
        label="Server URL",
        max_length=2000,
        required=False,
        widget=_secret_input(placeholder="amqps://user:password@host:5671/vhost"),
        help_text="Stored in the vault; only a masked form is shown afterwards.",
    )
    exchange = forms.CharField(max_length=255, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.MultipleChoiceField, self.fields["events"]).choices = [
            (event_type, event_type) for event_type in EVENT_TYPES
        ]
        for index in range(HEADER_ROWS):
            self.fields[f"header_name_{index}"] = forms.CharField(
                label=f"Header {index + 1} name",
                max_length=128,
                required=False,
                widget=forms.TextInput(attrs={"autocomplete": "off", "placeholder": "name"}),
            )
            self.fields[f"header_value_{index}"] = forms.CharField(
                label=f"Header {index + 1} value",
                max_length=4096,
                required=False,
                widget=_secret_input(placeholder="value"),
            )

    @property
    def header_rows(self) -> list[tuple[forms.BoundField, forms.BoundField]]:
        return [
            (self[f"header_name_{index}"], self[f"header_value_{index}"])
            for index in range(HEADER_ROWS)
        ]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("all_events"):
            cleaned["event_types"] = ["*"]
        elif cleaned.get("events"):
            cleaned["event_types"] = list(cleaned["events"])
        else:
            self.add_error("events", "Choose at least one event, or all events.")
        headers: dict[str, str] = {}
        for index in range(HEADER_ROWS):
            name = (cleaned.get(f"header_name_{index}") or "").strip()
            value = cleaned.get(f"header_value_{index}") or ""
            if not name and value:
                self.add_error(f"header_name_{index}", "Give this header a name.")
            elif name:
                headers[name] = value
        cleaned["custom_headers"] = headers
        if cleaned.get("type") == "webhook" and not (cleaned.get("url") or "").strip():
            self.add_error("url", "A webhook needs a URL.")
        if cleaned.get("type") == "rabbitmq":
            if not (cleaned.get("server_url") or "").strip():
                self.add_error("server_url", "A RabbitMQ destination needs a server URL.")
            if not (cleaned.get("exchange") or "").strip():
                self.add_error("exchange", "A RabbitMQ destination needs an exchange.")
        return cleaned


class RedeliverFailedForm(ConsoleForm):
    error_fields = {"since": "since"}

    since = forms.DateTimeField(
        label="Failed deliveries of events since",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )


class JsonArrayField(JsonObjectField):
    """A JSON array typed into a textarea (a workflow's steps)."""

    json_type = list
    json_shape = "a JSON array: [ … ]"


WORKFLOW_STEPS_HELP = (
    "One object per step, run in order in one session: "
    '<code>{"task_id": "task_…", "input_mapping": {"field": "/input/name" or '
    '"/steps/0/field" or {"const": value}}, "failure_behavior": "stop" | "continue" | '
    '"retry", "max_attempts": 1 to 5}</code>. Pointers are checked against the schemas.'
)


class WorkflowForm(ConsoleForm):
    error_fields = {
        "name": "name",
        "description": "description",
        "input_schema": "input_schema",
        "steps": "steps",
    }

    name = forms.CharField(max_length=200)
    description = forms.CharField(
        max_length=5000, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    input_schema = JsonObjectField(
        label="Input schema",
        initial=DEFAULT_INPUT_SCHEMA,
        help_text="JSON Schema 2020-12 for the workflow input; list secret properties in "
        '<code>"tokenized"</code>.',
    )
    steps = JsonArrayField(label="Steps", help_text=WORKFLOW_STEPS_HELP)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["steps"].widget.attrs["rows"] = 14


class WorkflowRunForm(ConsoleForm):
    error_fields = {"credential_id": "credential", "session_id": "credential", "input": "input"}

    credential = forms.ChoiceField(help_text="Every step logs in with this credential.")
    input = JsonObjectField(label="Input", required=False, help_text="The workflow input.")

    def __init__(self, *args: Any, credentials: list[Credential], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["credential"]).choices = [
            ("", "Choose a credential…")
        ] + [(c.id, f"{c.username or c.id} @ {c.source.name}") for c in credentials]
        self.fields["input"].widget.attrs.update({"rows": 5, "autocomplete": "off"})
