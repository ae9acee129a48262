"""Forms generated at run time: a task's run form from its ``input_schema``, and the answer
form of a paused run from its interaction's fields."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from django import forms
from django.core.exceptions import ValidationError
from django.utils.html import conditional_escape

from console.forms import ConsoleForm
from deck.errors import DeckError
from tasks.definitions import file_inputs
from tasks.models import Credential, Entity, Source, Task


@dataclass(frozen=True)
class FileInput:
    """A file-input property: shown as a note, since the form does not upload files yet."""

    name: str
    purpose: str


def _type_of(schema: Mapping[str, Any]) -> str | None:
    declared = schema.get("type")
    if isinstance(declared, list):
        declared = next((kind for kind in declared if kind != "null"), None)
    return declared if isinstance(declared, str) else None


class NumberField(forms.CharField):
    """A JSON number: ``3`` stays an integer, ``3.5`` a float."""

    widget = forms.NumberInput

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.widget.attrs.setdefault("step", "any")

    def to_python(self, value: Any) -> Any:
        text = super().to_python(value)
        if not text:
            return None
        try:
            return int(text) if text.lstrip("+-").isdigit() else float(text)
        except ValueError as exc:
            raise ValidationError("Enter a number.") from exc


class JsonValueField(forms.CharField):
    """Any JSON value (objects and arrays inside the input)."""

    widget = forms.Textarea

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.widget.attrs.update({"rows": 3, "spellcheck": "false", "class": "code-input"})

    def to_python(self, value: Any) -> Any:
        text = super().to_python(value)
        if not text:
            return None
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValidationError(f"Not valid JSON: {exc.msg}.") from exc


class RunForm(ConsoleForm):
    """Where to run (a credential, or a source without one) and one input per property of
    the task's ``input_schema``. Tokenized properties are password inputs that are never
    filled back in: their values go to the vault and nowhere else."""

    error_fields = {
        "credential_id": "target",
        "source_id": "target",
        "session_id": "target",
        "entity_ids": "entities",
    }

    target = forms.ChoiceField(label="Run on")
    entities = forms.MultipleChoiceField(
        label="Only these entities",
        required=False,
        help_text="Optional: scope the run to some of what the chosen credential's login "
        "shows. They must belong to that credential.",
        widget=forms.SelectMultiple(attrs={"size": 6}),
    )

    def __init__(
        self,
        *args: Any,
        task: Task,
        credentials: list[Credential],
        sources: list[Source],
        entities: list[Entity] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.task = task
        if entities:
            cast(forms.MultipleChoiceField, self.fields["entities"]).choices = [
                (
                    entity.id,
                    f"{entity.type} {entity.external_id}"
                    + (f" · {entity.name}" if entity.name else "")
                    + f" — {entity.credential.username or entity.credential_id}",
                )
                for entity in entities
            ]
        else:
            del self.fields["entities"]
        groups = [
            (
                "Credentials",
                [
                    (f"credential:{c.id}", f"{c.username or c.id} @ {c.source.name}")
                    for c in credentials
                ],
            ),
            ("Sources, without a login", [(f"source:{s.id}", s.name) for s in sources]),
        ]
        cast(forms.ChoiceField, self.fields["target"]).choices = [g for g in groups if g[1]]
        schema = task.input_schema
        properties: Mapping[str, Any] = schema.get("properties") or {}
        required = set(schema.get("required") or [])
        tokenized = set(task.tokenized_fields)
        files = file_inputs(schema)
        self.file_inputs = [FileInput(name, purpose) for name, purpose in files.items()]
        self.tokenized = tokenized
        self.input_names: list[str] = []
        for name, prop in properties.items():
            if name in files or not isinstance(prop, Mapping):
                continue
            field = self._field(prop, required=name in required, tokenized=name in tokenized)
            field.label = prop.get("title") or name
            # Help texts are rendered as HTML; a schema's description is the user's text.
            field.help_text = conditional_escape(str(prop.get("description", "")))
            self.fields[f"input_{name}"] = field
            self.input_names.append(name)

    def field_for(self, path: str | None) -> str | None:
        if path and path.startswith("input."):
            # input.address.city and input.items[0] belong to the top-level property's input.
            name = re.split(r"[.\[]", path.removeprefix("input."), maxsplit=1)[0]
            return f"input_{name}" if f"input_{name}" in self.fields else None
        return super().field_for(path)

    @staticmethod
    def _field(prop: Mapping[str, Any], *, required: bool, tokenized: bool) -> forms.Field:
        kind = _type_of(prop)
        field: forms.Field
        if isinstance(prop.get("enum"), list) and not tokenized:
            choices = [(json.dumps(value), str(value)) for value in prop["enum"]]
            field = forms.TypedChoiceField(
                choices=([] if required else [("", "—")]) + choices,
                coerce=json.loads,
                empty_value=None,
            )
        elif kind == "boolean":
            # Unticked is false when the schema requires the property, else left out.
            field = forms.BooleanField()
        elif kind == "integer":
            field = forms.IntegerField()
        elif kind == "number":
            field = NumberField()
        elif kind in ("object", "array"):
            field = JsonValueField()
        else:
            attrs = {}
            if prop.get("format") == "date":
                attrs["type"] = "date"
            elif prop.get("format") == "email":
                attrs["type"] = "email"
            field = forms.CharField(strip=False, widget=forms.TextInput(attrs=attrs))
        if tokenized and kind != "boolean":
            field.widget = forms.PasswordInput(
                render_value=False, attrs={"autocomplete": "off", "data-tokenized": ""}
            )
        field.required = required and kind != "boolean"
        return field

    def entity_ids(self) -> list[str]:
        return list(self.cleaned_data.get("entities") or [])

    def target_ids(self) -> tuple[str | None, str | None]:
        """(credential_id, source_id): one of them, as chosen in the picker."""
        kind, _, target_id = self.cleaned_data["target"].partition(":")
        return (target_id, None) if kind == "credential" else (None, target_id)

    def run_input(self) -> dict[str, Any]:
        required = set(self.task.input_schema.get("required") or [])
        values: dict[str, Any] = {}
        for name in self.input_names:
            value = self.cleaned_data.get(f"input_{name}")
            field = self.fields[f"input_{name}"]
            if isinstance(field, forms.BooleanField):
                if value or name in required:
                    values[name] = bool(value)
            elif value not in (None, ""):
                values[name] = value
        return values

    def message_for(self, error: DeckError) -> str:
        # "input.start_date: 'x' is not a 'date'" next to the start_date field: drop the path.
        field = error.field or ""
        prefix = f"{field}: "
        message = error.message
        if field.startswith("input.") and message.startswith(prefix):
            return message[len(prefix) :]
        return message


class InteractionForm(ConsoleForm):
    """The answer to a paused run: one required input per field the agent asked for."""

    def __init__(self, *args: Any, interaction: Mapping[str, Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._field_names: dict[str, str] = {}
        for index, spec in enumerate(interaction.get("fields") or []):
            name = str(spec.get("name", f"field_{index}"))
            options = spec.get("options")
            field: forms.Field
            if isinstance(options, list) and options:
                field = forms.ChoiceField(
                    choices=[
                        (str(o.get("value", o)), str(o.get("label", o)))
                        if isinstance(o, Mapping)
                        else (str(o), str(o))
                        for o in options
                    ]
                )
            elif spec.get("type") == "password":
                field = forms.CharField(
                    widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"})
                )
            else:
                mfa = interaction.get("type") == "mfa"
                attrs = {"autocomplete": "one-time-code"} if mfa else {}
                field = forms.CharField(widget=forms.TextInput(attrs=attrs))
            field.label = spec.get("label") or name
            self.fields[f"answer_{name}"] = field
            self._field_names[f"answer_{name}"] = name

    def field_for(self, path: str | None) -> str | None:
        name = (path or "").removeprefix("input.")
        key = f"answer_{name}"
        return key if key in self.fields else None

    def answer(self) -> dict[str, str]:
        return {name: self.cleaned_data[key] for key, name in self._field_names.items()}
