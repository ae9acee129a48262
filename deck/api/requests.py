from __future__ import annotations

from django.http import HttpRequest

from deck.models import ApiKey, Organization


class ApiRequest(HttpRequest):
    """What ``ApiMiddleware`` and ninja's auth attach to an authenticated API request."""

    auth: Organization
    organization: Organization
    api_key: ApiKey
    request_id: str
