from __future__ import annotations

import copy
from typing import Any

import pytest

from deck.events.models import Event
from tasks.models import Task
from tests.api.factories import make_agent, make_task

pytestmark = pytest.mark.django_db

FILE_FIELD = {
    "type": "object",
    "properties": {
        "purpose": {"const": "attachment"},
        "file_name": {"type": "string"},
        "content_type": {"type": "string"},
        "data": {"type": "string", "contentEncoding": "base64"},
    },
}


def extraction_file() -> dict[str, Any]:
    field: dict[str, Any] = copy.deepcopy(FILE_FIELD)
    field["properties"]["purpose"] = {"const": "extraction"}
    return field


# The request bodies of seeds 001 and 002, verbatim but for the agent id.
SEED_BODIES = {
    "submit_application": {
        "name": "Submit application",
        "input_schema": {
            "type": "object",
            "properties": {"applicant_name": {"type": "string"}, "resume": FILE_FIELD},
            "required": ["applicant_name", "resume"],
        },
    },
    "add_payment_method": {
        "name": "Add payment method",
        "prompt": "Add a new payment method to the user's account.",
        "input_schema": {
            "type": "object",
            "properties": {
                "card_number": {"type": "string"},
                "expiration": {"type": "string"},
                "cvv": {"type": "string"},
                "cardholder_name": {"type": "string"},
            },
            "required": ["card_number", "expiration", "cvv", "cardholder_name"],
            "tokenized": ["card_number", "cvv", "cardholder_name"],
        },
    },
    "fetch_utility_bills": {
        "name": "Fetch utility bills",
        "input_schema": {
            "type": "object",
            "properties": {"start_date": {"type": "string"}, "end_date": {"type": "string"}},
        },
        "output_schema": {"type": "object", "properties": {"bill_count": {"type": "integer"}}},
        "storage": {"enabled": True, "extraction": True},
    },
    "extract_utility_bill": {
        "name": "Extract utility bill",
        "input_schema": {
            "type": "object",
            "properties": {"bill": extraction_file()},
            "required": ["bill"],
        },
        "storage": {
            "enabled": True,
            "extraction": True,
            "extraction_schema": {
                "type": "object",
                "properties": {
                    "vendor_name": {"type": "string"},
                    "total_amount": {"type": "number"},
                    "invoice_date": {"type": "string", "format": "date"},
                },
            },
        },
    },
    "custom_extraction_schema": {
        "name": "Invoices with line items",
        "storage": {
            "enabled": True,
            "extraction": True,
            "extraction_schema": {
                "type": "object",
                "properties": {
                    "vendor_name": {"type": "string"},
                    "total_amount": {"type": "number"},
                    "invoice_date": {"type": "string", "format": "date"},
                    "line_items": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "description": {"type": "string"},
                                "amount": {"type": "number"},
                            },
                        },
                    },
                },
            },
        },
    },
    "deduplication": {
        "name": "Monthly bills, new ones only",
        "storage": {
            "enabled": True,
            "deduplication": True,
            "deduplication_schema": {
                "type": "object",
                "properties": {
                    "account_number": {
                        "type": "string",
                        "description": "The utility account number",
                    },
                    "billing_period_start": {
                        "type": "string",
                        "description": "Start date of the billing period (YYYY-MM-DD)",
                    },
                },
            },
        },
    },
}


@pytest.mark.parametrize("name", sorted(SEED_BODIES))
def test_seed_bodies_are_accepted_verbatim(org, api, name):
    agent = make_agent(org)
    body = {**copy.deepcopy(SEED_BODIES[name]), "agent_id": agent.id}
    response = api.post("/v2/tasks", body)
    assert response.status_code == 201, response.json()
    task = response.json()
    assert task["id"].startswith("task_")
    assert task["object"] == "task"
    assert task["status"] == "learning"
    assert task["progress"] == {"successful_runs": 0, "required": 3, "next_status": "test"}
    assert task["input_schema"] == body.get("input_schema", {"type": "object", "properties": {}})
    for key, value in body.get("storage", {}).items():
        assert task["storage"][key] == value
    assert task["settings"] == {"timeout_seconds": 1800, "review_required": False}
    assert api.get(f"/v2/tasks/{task['id']}").json()["name"] == body["name"]
    assert Event.objects.filter(type="task.created", data__id=task["id"]).exists()


def test_caller_chosen_id(org, api):
    agent = make_agent(org)
    body = {"id": "task_fetch_bills", "name": "Fetch", "agent_id": agent.id}
    assert api.post("/v2/tasks", body).json()["id"] == "task_fetch_bills"
    again = api.post("/v2/tasks", body)
    assert again.status_code == 409
    assert again.json()["errors"][0]["field"] == "id"
    bad = api.post("/v2/tasks", {**body, "id": "fetch bills"})
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["field"] == "id"


BAD_DEFINITIONS = [
    ({"input_schema": {"type": "strng"}}, "input_schema.type"),
    ({"output_schema": {"properties": {"x": {"type": 5}}}}, "output_schema.properties.x.type"),
    ({"output_schema": {"type": "array"}}, "output_schema.type"),
    ({"input_schema": "not an object"}, "input_schema"),
    (
        {"input_schema": {"type": "object", "properties": {"a": {}}, "tokenized": ["b"]}},
        "input_schema.tokenized[0]",
    ),
    (
        {"input_schema": {"type": "object", "properties": {"a": {}}, "tokenized": "a"}},
        "input_schema.tokenized",
    ),
    (
        {
            "input_schema": {
                "type": "object",
                "properties": {"resume": FILE_FIELD, "bill": extraction_file()},
            },
            "storage": {
                "enabled": True,
                "extraction": True,
                "extraction_schema": {"type": "object"},
            },
        },
        "input_schema.properties",
    ),
    (
        {"input_schema": {"type": "object", "properties": {"bill": extraction_file()}}},
        "input_schema.properties.bill",
    ),
    (
        {
            "input_schema": {"type": "object", "properties": {"bill": extraction_file()}},
            "storage": {"enabled": True, "extraction": True},
        },
        "input_schema.properties.bill",
    ),
    ({"storage": {"extraction": True}}, "storage.enabled"),
    (
        {
            "storage": {
                "enabled": True,
                "deduplication": True,
                "deduplication_schema": {
                    "type": "object",
                    "properties": {"period": {"type": "object"}},
                },
            }
        },
        "storage.deduplication_schema.properties.period.type",
    ),
    (
        {"storage": {"enabled": True, "deduplication_schema": {"type": "object"}}},
        "storage.deduplication_schema.properties",
    ),
    (
        {"storage": {"enabled": True, "extraction_schema": {"type": 1}}},
        "storage.extraction_schema.type",
    ),
    ({"storage": {"enabled": True, "surprise": True}}, "storage.surprise"),
    ({"settings": {"timeout_seconds": 0}}, "settings.timeout_seconds"),
    ({"settings": {"timeout_seconds": 10**9}}, "settings.timeout_seconds"),
    ({"name": ""}, "name"),
    ({"name": None}, "name"),
    ({"colour": "blue"}, "colour"),
]


@pytest.mark.parametrize(("override", "field"), BAD_DEFINITIONS)
def test_bad_task_definitions_are_rejected_with_the_field(org, api, override, field):
    agent = make_agent(org)
    body = {"name": "A task", "agent_id": agent.id, **override}
    response = api.post("/v2/tasks", body)
    assert response.status_code == 400, response.json()
    error = response.json()["errors"][0]
    assert error["type"] == "request"
    assert error["code"] == "input_invalid"
    assert error["field"] == field
    assert error["message"]
    assert not Task.objects.exists()


def test_missing_agent_is_reported(org, api):
    response = api.post("/v2/tasks", {"name": "A"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "agent_id"


def test_agent_of_another_organization_is_404(org, other_org, api):
    foreign = make_agent(other_org)
    response = api.post("/v2/tasks", {"name": "A", "agent_id": foreign.id})
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "agent_not_found"
    assert response.json()["errors"][0]["field"] == "agent_id"


def test_list_filters(org, api):
    first, second = make_agent(org, "one"), make_agent(org, "two")
    a = make_task(org, first)
    b = make_task(org, second)
    Task.objects.filter(pk=b.pk).update(status="live")
    assert [t["id"] for t in api.get(f"/v2/tasks?agent_id={first.id}").json()["data"]] == [a.id]
    assert [t["id"] for t in api.get("/v2/tasks?status=live").json()["data"]] == [b.id]
    bad = api.get("/v2/tasks?status=retired")
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["field"] == "status"


def test_update_partial_and_validated(org, api):
    task = make_task(org)
    response = api.patch(f"/v2/tasks/{task.id}", {"settings": {"review_required": True}})
    assert response.status_code == 200
    assert response.json()["settings"] == {"timeout_seconds": 1800, "review_required": True}
    assert response.json()["prompt"] == task.prompt
    bad = api.patch(f"/v2/tasks/{task.id}", {"input_schema": {"type": "nope"}})
    assert bad.status_code == 400
    task.refresh_from_db()
    assert task.input_schema["properties"]["start_date"]["type"] == "string"
    storage = api.patch(f"/v2/tasks/{task.id}", {"storage": {"enabled": True}}).json()["storage"]
    assert storage["enabled"] is True
    assert storage["extraction"] is False
    assert Event.objects.filter(type="task.updated").count() == 2


@pytest.mark.parametrize("status", ["test", "live"])
@pytest.mark.parametrize(
    ("change", "relearns"),
    [
        ({"prompt": "Fetch my last three bills."}, True),
        ({"input_schema": {"type": "object", "properties": {}}}, True),
        ({"output_schema": {"type": "object", "properties": {"total": {"type": "number"}}}}, True),
        ({"name": "Renamed"}, False),
        ({"settings": {"timeout_seconds": 60}}, False),
    ],
)
def test_editing_what_was_learned_sends_task_back_to_learning(org, api, status, change, relearns):
    task = make_task(org)
    Task.objects.filter(pk=task.pk).update(status=status, stage_successes=2)
    body = api.patch(f"/v2/tasks/{task.id}", change).json()
    assert body["status"] == ("learning" if relearns else status)
    assert body["progress"]["successful_runs"] == (0 if relearns else 2)


def test_reset(org, api):
    task = make_task(org)
    Task.objects.filter(pk=task.pk).update(status="live", stage_successes=1)
    body = api.post(f"/v2/tasks/{task.id}/reset").json()
    assert body["status"] == "learning"
    assert body["progress"]["successful_runs"] == 0
    event = Event.objects.get(type="task.reset")
    assert event.data["id"] == task.id
    assert event.data["status"] == "learning"


def test_delete(org, api):
    task = make_task(org)
    response = api.delete(f"/v2/tasks/{task.id}")
    assert response.json() == {
        "id": task.id,
        "object": "task",
        "deleted": True,
        "request_id": response["Request-Id"],
    }
    assert api.get(f"/v2/tasks/{task.id}").status_code == 404
    assert Event.objects.filter(type="task.deleted", data__id=task.id).exists()


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("get", "", None),
        ("patch", "", {"name": "mine now"}),
        ("delete", "", None),
        ("post", "/reset", None),
    ],
)
def test_another_organization_gets_404(org, stranger_api, method, suffix, body):
    task = make_task(org)
    path = f"/v2/tasks/{task.id}{suffix}"
    response = (
        getattr(stranger_api, method)(path, body) if body else getattr(stranger_api, method)(path)
    )
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "task_not_found"
    assert stranger_api.get("/v2/tasks").json()["data"] == []
    task.refresh_from_db()
    assert task.name == "Fetch my latest bill"
