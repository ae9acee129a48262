"""Seed 000: every task is a read or a write job with a scope; set, inferred, updated and
filtered through the API."""

from __future__ import annotations

import pytest

from tests.api.factories import make_agent

pytestmark = pytest.mark.django_db

ATTACHMENT = {
    "type": "object",
    "properties": {"purpose": {"const": "attachment"}, "data": {"type": "string"}},
}


def create(api, agent, **fields):
    response = api.post("/v2/tasks", {"name": "A task", "agent_id": agent.id, **fields})
    assert response.status_code == 201, response.json()
    return response.json()


def test_type_and_scope_are_set_or_inferred(org, api):
    agent = make_agent(org)
    plain = create(api, agent)
    assert (plain["type"], plain["scope"]) == ("read", "retrieve_metadata")
    documents = create(api, agent, storage={"enabled": True})
    assert (documents["type"], documents["scope"]) == ("read", "retrieve_documents")
    upload = create(api, agent, input_schema={"type": "object", "properties": {"bill": ATTACHMENT}})
    assert (upload["type"], upload["scope"]) == ("write", "upload_document")
    write = create(api, agent, type="write")
    assert (write["type"], write["scope"]) == ("write", "trigger_action")
    form = create(api, agent, scope="submit_form")
    assert (form["type"], form["scope"]) == ("write", "submit_form")
    explicit = create(api, agent, type="read", scope="retrieve_documents")
    assert (explicit["type"], explicit["scope"]) == ("read", "retrieve_documents")


def test_a_scope_of_the_other_type_is_refused(org, api):
    agent = make_agent(org)
    response = api.post(
        "/v2/tasks", {"name": "x", "agent_id": agent.id, "type": "read", "scope": "inject_field"}
    )
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert (error["code"], error["field"]) == ("input_invalid", "scope")
    unknown = api.post("/v2/tasks", {"name": "x", "agent_id": agent.id, "scope": "delete_all"})
    assert unknown.status_code == 400
    assert unknown.json()["errors"][0]["field"] == "scope"


def test_type_and_scope_are_updatable(org, api):
    task = create(api, make_agent(org))
    scoped = api.patch(f"/v2/tasks/{task['id']}", {"scope": "inject_field"}).json()
    assert (scoped["type"], scoped["scope"]) == ("write", "inject_field")
    # A new type keeps the scope when it fits, else takes the type's default.
    same = api.patch(f"/v2/tasks/{task['id']}", {"type": "write"}).json()
    assert same["scope"] == "inject_field"
    read = api.patch(f"/v2/tasks/{task['id']}", {"type": "read"}).json()
    assert (read["type"], read["scope"]) == ("read", "retrieve_metadata")
    bad = api.patch(f"/v2/tasks/{task['id']}", {"type": "read", "scope": "submit_form"})
    assert bad.status_code == 400
    assert api.get(f"/v2/tasks/{task['id']}").json()["scope"] == "retrieve_metadata"


def test_tasks_filter_by_type_and_scope(org, api, stranger_api):
    agent = make_agent(org)
    read = create(api, agent)
    write = create(api, agent, scope="submit_form")
    documents = create(api, agent, storage={"enabled": True})

    def ids(query):
        response = api.get(f"/v2/tasks?{query}")
        assert response.status_code == 200, response.json()
        return {task["id"] for task in response.json()["data"]}

    assert ids("type=read") == {read["id"], documents["id"]}
    assert ids("type=write") == {write["id"]}
    assert ids("scope=retrieve_documents") == {documents["id"]}
    assert ids("type=read&scope=submit_form") == set()
    assert api.get("/v2/tasks?type=delete").status_code == 400
    assert stranger_api.get("/v2/tasks?type=read").json()["data"] == []
