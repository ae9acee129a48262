from __future__ import annotations

import json

import pytest
from django.test import Client

from deck.models import ApiKey, IdempotencyRecord
from deck.services import api_key_create, api_key_revoke
from tests.api.factories import make_agent, make_task

pytestmark = pytest.mark.django_db


def test_test_endpoint_reports_ready_with_request_id(api):
    response = api.get("/v2/test")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["environment"] == "live"
    assert body["request_id"].startswith("req_")
    assert response["Request-Id"] == body["request_id"]


@pytest.mark.parametrize(
    "header",
    [None, "Bearer", "Bearer sk_live_nope", "Basic abc", "Bearer sk_test_x", "sk_live_x"],
)
def test_missing_or_malformed_key_is_401_envelope(db, header):
    client = Client(headers={"Authorization": header} if header else {})
    response = client.get("/v2/test")
    assert response.status_code == 401
    body = response.json()
    assert body["errors"][0]["type"] == "auth"
    assert body["errors"][0]["code"] == "api_key_invalid"
    assert body["request_id"] == response["Request-Id"]


def test_revoked_key_is_rejected(org, api):
    key = ApiKey.objects.get(key_hash__isnull=False, organization=org)
    api_key_revoke(organization=org, key_id=key.id)
    assert api.get("/v2/test").status_code == 401


def test_key_use_is_recorded_and_only_hash_stored(org):
    created = api_key_create(organization=org, name="ci")
    assert created.raw_key.startswith("sk_live_")
    stored = ApiKey.objects.get(pk=created.api_key.pk)
    assert created.raw_key not in {stored.key_hash, stored.prefix}
    assert created.raw_key.startswith(stored.prefix)
    assert stored.last_used_at is None
    Client(headers={"Authorization": f"Bearer {created.raw_key}"}).get("/v2/test")
    stored.refresh_from_db()
    assert stored.last_used_at is not None


def test_unknown_endpoint_is_404_envelope(api):
    response = api.get("/v2/nothing-here")
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "not_found"
    assert response["Request-Id"].startswith("req_")


def test_wrong_method_is_405_envelope(api):
    response = api.client.put("/v2/test")
    assert response.status_code == 405
    assert response.json()["errors"][0]["code"] == "method_not_allowed"


def test_unexpected_error_is_500_envelope_and_logged(api, monkeypatch, caplog):
    from tasks import selectors

    def explode(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(selectors, "task_list", explode)
    response = api.get("/v2/tasks")
    assert response.status_code == 500
    body = response.json()
    assert body["errors"] == [
        {
            "type": "api",
            "code": "internal_error",
            "message": "Something went wrong on our side; it was logged.",
        }
    ]
    assert "boom" in caplog.text


def test_body_that_is_not_json_is_400(api):
    response = api.post("/v2/agents", "{not json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "input_invalid"


def test_openapi_document_is_31_and_public(db):
    response = Client().get("/v2/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.1")
    assert "/v2/tasks/{task_id}/reset" in document["paths"]
    assert "/v2/tasks/{task_id}/run" in document["paths"]
    assert document["components"]["schemas"]["Error"]["required"] == ["errors", "request_id"]
    responses = document["paths"]["/v2/tasks"]["post"]["responses"]
    assert responses["4XX"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }
    assert document["components"]["securitySchemes"]["ApiKeyAuth"]["scheme"] == "bearer"
    assert Client().get("/v2/docs").status_code == 200


def test_pagination_walks_every_page_newest_first(org, api):
    agent = make_agent(org)
    created = [make_task(org, agent, name=f"task {i}").id for i in range(7)]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        url = "/v2/tasks?limit=3" + (f"&cursor={cursor}" if cursor else "")
        body = api.get(url).json()
        seen += [task["id"] for task in body["data"]]
        pages += 1
        if not body["has_more"]:
            assert body["next_cursor"] is None
            break
        cursor = body["next_cursor"]
        # A row inserted mid-walk appears before the first page, never inside a later one.
        if pages == 1:
            make_task(org, agent, name="late arrival")
    assert pages == 3
    assert seen == list(reversed(created))


@pytest.mark.parametrize(
    ("query", "field"),
    [("limit=0", "limit"), ("limit=101", "limit"), ("limit=abc", "limit"), ("cursor=@@", "cursor")],
)
def test_bad_pagination_parameters(api, query, field):
    response = api.get(f"/v2/tasks?{query}")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == field


def test_idempotent_replay_returns_first_response(org, api):
    body = {"name": "Billing agent"}
    first = api.post("/v2/agents", body, **{"Idempotency-Key": "abc-1"})
    second = api.post("/v2/agents", body, **{"Idempotency-Key": "abc-1"})
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second["Idempotent-Replayed"] == "true"
    assert org.agents.count() == 1


def test_idempotency_same_json_other_formatting_replays(org, api):
    api.post("/v2/agents", '{"name": "A", "description": "d"}', **{"Idempotency-Key": "k"})
    again = api.post("/v2/agents", '{"description":"d","name":"A"}', **{"Idempotency-Key": "k"})
    assert again.status_code == 201
    assert org.agents.count() == 1


def test_idempotency_key_reused_with_other_body_is_409(api):
    api.post("/v2/agents", {"name": "A"}, **{"Idempotency-Key": "abc-2"})
    response = api.post("/v2/agents", {"name": "B"}, **{"Idempotency-Key": "abc-2"})
    assert response.status_code == 409
    assert response.json()["errors"][0]["type"] == "idempotency"
    assert response.json()["errors"][0]["code"] == "idempotency_error"


def test_idempotency_key_too_long_is_400(api):
    response = api.post("/v2/agents", {"name": "A"}, **{"Idempotency-Key": "x" * 257})
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "idempotency_key_error"


def test_failed_request_does_not_burn_the_key(org, api):
    bad = api.post("/v2/agents", {"name": ""}, **{"Idempotency-Key": "retry-me"})
    assert bad.status_code == 400
    assert not IdempotencyRecord.objects.filter(key="retry-me").exists()
    good = api.post("/v2/agents", {"name": ""}, **{"Idempotency-Key": "retry-me"})
    assert good.status_code == 400  # same body, still invalid, still not stored
    fixed = api.post("/v2/agents", {"name": "ok"}, **{"Idempotency-Key": "retry-me"})
    assert fixed.status_code == 201


def test_idempotency_keys_are_scoped_to_the_organization(org, other_org, api, stranger_api):
    api.post("/v2/agents", {"name": "A"}, **{"Idempotency-Key": "shared"})
    other = stranger_api.post("/v2/agents", {"name": "A"}, **{"Idempotency-Key": "shared"})
    assert other.status_code == 201
    assert other_org.agents.count() == 1
    assert json.loads(other.content)["id"] != org.agents.get().id


def test_expired_idempotency_key_runs_again(org, api):
    from datetime import timedelta

    from django.utils import timezone

    api.post("/v2/agents", {"name": "A"}, **{"Idempotency-Key": "old"})
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=25))
    again = api.post("/v2/agents", {"name": "A"}, **{"Idempotency-Key": "old"})
    assert again.status_code == 201
    assert "Idempotent-Replayed" not in again
    assert org.agents.count() == 2


def test_prune_job_forgets_old_keys(org, api):
    from datetime import timedelta

    from django.utils import timezone

    from deck.jobs import prune_idempotency_keys

    api.post("/v2/agents", {"name": "A"}, **{"Idempotency-Key": "old"})
    api.post("/v2/agents", {"name": "B"}, **{"Idempotency-Key": "new"})
    IdempotencyRecord.objects.filter(key="old").update(
        created_at=timezone.now() - timedelta(hours=25)
    )
    assert prune_idempotency_keys() == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]


def test_rate_limit_per_organization(org, api, stranger_api, settings):
    from django.core.cache import cache

    cache.clear()
    settings.DECK_RATE_LIMIT_REQUESTS = 3
    settings.DECK_RATE_LIMIT_WINDOW_SECONDS = 60
    for _ in range(3):
        assert api.get("/v2/test").status_code == 200
    limited = api.get("/v2/test")
    assert limited.status_code == 429
    assert limited.json()["errors"][0]["code"] == "rate_limit_exceeded"
    assert limited.json()["errors"][0]["type"] == "rate_limit"
    assert 1 <= int(limited["Retry-After"]) <= 60
    # Another organization has its own budget.
    assert stranger_api.get("/v2/test").status_code == 200
    cache.clear()
