from __future__ import annotations

from typing import Literal

from django.http import HttpRequest
from ninja import Router, Schema

router = Router(tags=["Meta"])


class TestOut(Schema):
    status: Literal["ready"]
    environment: Literal["live"]


@router.get("/test", response=TestOut, summary="Check the API key")
def api_test(request: HttpRequest) -> dict[str, str]:
    return {"status": "ready", "environment": "live"}
