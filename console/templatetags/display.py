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
