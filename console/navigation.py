"""The console's left navigation: every section, linked once its page exists."""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse

# (label, URL name in the console namespace). Pages under a section use URL names that
# start with the section's name followed by "_" (``api_keys_create``), which keeps the
# section highlighted.
SECTIONS: tuple[tuple[str, str], ...] = (
    ("Dashboard", "home"),
    ("Agents", "agents"),
    ("Tasks", "tasks"),
    ("Workflows", "workflows"),
    ("Runs", "runs"),
    ("Sessions", "sessions"),
    ("Credentials", "credentials"),
    ("Sources", "sources"),
    ("Entities", "entities"),
    ("Storage", "storage"),
    ("Events & destinations", "events"),
    ("API keys", "api_keys"),
    ("Settings", "settings"),
)


@dataclass(frozen=True)
class NavItem:
    label: str
    url: str | None  # None until the section's page exists
    active: bool


def navigation(request: HttpRequest) -> list[NavItem]:
    match = request.resolver_match
    current = match.url_name if match is not None and match.namespace == "console" else None
    items = []
    for label, name in SECTIONS:
        try:
            url: str | None = reverse(f"console:{name}")
        except NoReverseMatch:
            url = None
        active = current is not None and (current == name or current.startswith(f"{name}_"))
        items.append(NavItem(label=label, url=url, active=url is not None and active))
    return items
