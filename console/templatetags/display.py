"""How the console shows statuses, JSON and durations."""

from __future__ import annotations

import json
from typing import Any

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

# Status → badge colour: ok (done well), bad (failed or invalid), wait (needs a person),
# busy (in progress), off (stopped or not yet checked).
_BADGE_KINDS = {
    "completed": "ok",
    "verified": "ok",
    "live": "ok",
    "success": "ok",
    "failed": "bad",
    "invalid": "bad",
    "failure": "bad",
    "interaction_required": "wait",
    "review_required": "wait",
    "queued": "busy",
    "running": "busy",
    "canceling": "busy",
    "learning": "busy",
    "test": "wait",
    "idle": "off",
    "canceled": "off",
    "unverified": "off",
    "unknown": "off",
}


@register.simple_tag
def status_badge(status: str | None) -> SafeString:
    if not status:
        return mark_safe('<span class="muted">—</span>')
    kind = _BADGE_KINDS.get(status, "off")
    return format_html(
        '<span class="badge badge-{}" data-status="{}">{}</span>',
        kind,
        status,
        status.replace("_", " ").capitalize(),
    )


@register.filter
def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False, default=str)


@register.filter
def duration(milliseconds: int | None) -> str:
    if milliseconds is None:
        return "—"
    if milliseconds < 1000:
        return f"{milliseconds} ms"
    seconds = milliseconds / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s"


@register.filter
def choices(options: Any, attribute: str = "name") -> list[tuple[Any, Any]]:
    """Options for a filter select: (value, label) pairs as they are, plain strings as
    themselves, model objects as (pk, the named attribute)."""
    pairs: list[tuple[Any, Any]] = []
    for option in options:
        if isinstance(option, tuple | list):
            pairs.append((option[0], option[1]))
        elif isinstance(option, str):
            pairs.append((option, option))
        else:
            pairs.append((option.pk, getattr(option, attribute)))
    return pairs


@register.inclusion_tag("console/output_table.html")
def output_table(output: Any) -> dict[str, Any]:
    """A run's output as tables: top-level scalars as rows, lists of objects as a table each
    (columns in order of first appearance). Anything deeper stays JSON."""
    scalars: list[tuple[str, Any]] = []
    tables: list[dict[str, Any]] = []
    if isinstance(output, dict):
        for key, value in output.items():
            if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
                columns: list[str] = []
                for row in value:
                    columns += [c for c in row if c not in columns]
                rows = [[_cell(row.get(c)) for c in columns] for row in value]
                tables.append({"name": key, "columns": columns, "rows": rows})
            else:
                scalars.append((key, _cell(value)))
    return {"scalars": scalars, "tables": tables}


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)
