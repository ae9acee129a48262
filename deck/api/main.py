from __future__ import annotations

from ninja import NinjaAPI

api = NinjaAPI(title="Deck API", version="2", urls_namespace="api")
