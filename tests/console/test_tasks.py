"""Tasks in the console: create by prompting (the built-in drafter), live validation of the
JSON editors, edit (back to learning when the definition changes) and delete."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from jsonschema import Draft202012Validator

from tasks import definitions
from tasks.drafting import task_draft_builtin
from tasks.models import Task, TaskRun
from tasks.services import playbook_record
from tests.api.factories import make_agent
from tests.console.conftest import World

HX = {"HX-Request": "true"}

PHRASINGS = [
    # (description, list name or None for a single record, fields that must be returned,
    #  input properties, storage enabled, tokenized inputs)
    (
        "get my last three electricity bills with amount and due date",
        "bills",
        {"amount", "due_date"},
        {"count"},
        False,
        [],
    ),
    (
        "Download my bank statements since January as PDF",
        "statements",
        {"statement_date", "closing_balance"},
        {"start_date", "end_date"},
        True,
        [],
    ),
    ("What is my current balance?", None, {"balance", "currency"}, set(), False, []),
    (
        "list all upcoming hotel reservations with check-in, check-out and confirmation number",
        "reservations",
        {"check_in", "check_out", "confirmation_number"},
        set(),
        False,
        [],
    ),
    (
        "fetch the latest payslip and extract gross and net pay",
        None,
        {"gross_pay", "net_pay"},
        set(),
        True,
        [],
    ),
    (
        "get transactions for account given between two dates",
        "transactions",
        {"date", "amount", "description"},
        {"account_number", "start_date", "end_date"},
        False,
        ["account_number"],
    ),
    (
        "my last 2 invoices please, with invoice number and total, keep the PDF",
        "invoices",
        {"invoice_number", "amount"},
        {"count"},
        True,
        [],
    ),
    (
        "Pay my water bill with my card number",
        None,
        {"amount", "due_date"},
        {"card_number"},
        False,
        ["card_number"],
    ),
    ("recent payments with payee and status", "payments", {"payee", "status"}, set(), False, []),
    ("Grab every document from the portal", "documents", {"title", "date"}, set(), True, []),
]


@pytest.mark.parametrize(
    ("description", "list_name", "fields", "inputs", "storage", "tokenized"), PHRASINGS
)
def test_the_drafter_turns_phrasings_into_valid_definitions(
    description, list_name, fields, inputs, storage, tokenized
) -> None:
    draft = task_draft_builtin(description)
    # The definition passes the same checks as saving a task.
    definitions.task_definition_check(
        input_schema=draft.input_schema,
        output_schema=draft.output_schema,
        storage=definitions.storage_normalize(draft.storage),
        timeout_seconds=1800,
    )
    Draft202012Validator.check_schema(draft.output_schema)
    output = draft.output_schema["properties"]
    if list_name:
        assert list(output) == [list_name]
        assert output[list_name]["type"] == "array"
        returned = set(output[list_name]["items"]["properties"])
    else:
        returned = set(output)
    assert fields <= returned, returned
    assert set(draft.input_schema["properties"]) == inputs
    assert draft.storage["enabled"] is storage
    assert draft.input_schema.get("tokenized", []) == tokenized
    assert draft.name
    assert draft.prompt.startswith("Log in")
    assert draft.notes


def test_the_drafter_reads_counts_into_an_input_and_an_array_size() -> None:
    draft = task_draft_builtin("Get my last three electricity bills with amount and due date")
    assert draft.name == "Fetch the last 3 electricity bills"
    count = draft.input_schema["properties"]["count"]
    assert (count["type"], count["default"]) == ("integer", 3)
    bills = draft.output_schema["properties"]["bills"]
    assert bills["maxItems"] == 3
    assert bills["items"]["properties"]["due_date"]["format"] == "date"
    # Output a run could return is accepted by the drafted schema; a wrong shape is not.
    validator = Draft202012Validator(draft.output_schema)
    good = {"bills": [{"amount": 84.12, "due_date": "2025-02-01"}] * 3}
    assert not list(validator.iter_errors(good))
    assert list(validator.iter_errors({"bills": [{"amount": "84"}]}))
    extraction = task_draft_builtin("extract the amount from my 5 latest phone bills")
    assert extraction.storage["extraction"] is True
    assert "amount" in extraction.storage["extraction_schema"]["properties"]


def test_draft_fills_the_create_form_without_saving(member: Client, org) -> None:
    agent = make_agent(org)
    data = {"description": "get my last three electricity bills with amount and due date"}
    page = member.post(reverse("console:tasks_draft"), data)
    content = page.content.decode()
    assert page.status_code == 200
    assert "<html" in content
    assert 'value="Fetch the last 3 electricity bills"' in content
    assert "&quot;due_date&quot;" in content  # the output schema editor is filled in
    assert "Drafted by the built-in drafter" in content
    part = member.post(reverse("console:tasks_draft"), data, headers=HX)
    content = part.content.decode()
    assert content.lstrip().startswith('<form id="task-form"')
    assert f'<option value="{agent.id}" selected>' in content
    assert not Task.objects.exists()


def test_an_empty_description_is_a_field_error(member: Client, org) -> None:
    response = member.post(reverse("console:tasks_draft"), {"description": ""}, headers=HX)
    content = response.content.decode()
    assert response["HX-Retarget"] == "#describe-form"
    assert content.lstrip().startswith('<form id="describe-form"')
    assert "This field is required." in content
    page = member.post(reverse("console:tasks_draft"), {"description": " "})
    assert "This field is required." in page.content.decode()


def _form(agent_id: str, **fields: str) -> dict[str, str]:
    return {
        "name": "Latest bill",
        "agent": agent_id,
        "prompt": "Fetch it",
        "input_schema": json.dumps({"type": "object", "properties": {}}),
        "output_schema": json.dumps({"type": "object"}),
        "timeout_seconds": "1800",
        **fields,
    }


def test_validate_runs_the_definition_checks_for_one_editor(member: Client, org) -> None:
    agent = make_agent(org)
    url = reverse("console:tasks_validate")
    ok = member.post(url, {**_form(agent.id), "check": "input_schema"}, headers=HX)
    assert ok.status_code == 200
    assert 'id="id_input_schema_check"' in ok.content.decode()
    assert "passes the task definition checks" in ok.content.decode()
    cases = [
        ('{"type": "object",', "Not valid JSON"),
        (json.dumps({"type": "object", "tokenized": ["card"]}), "not a property of input_schema"),
        (json.dumps({"type": "array"}), "input_schema must describe an object"),
        (json.dumps({"properties": {"a": {"type": "strin"}}}), "not valid JSON Schema 2020-12"),
    ]
    for text, message in cases:
        response = member.post(url, {**_form(agent.id, input_schema=text), "check": "input_schema"})
        content = response.content.decode()
        assert 'class="hint json-status json-bad"' in content, text
        assert message in content, text
    # A problem in another editor is that editor's to show.
    other = member.post(
        url, {**_form(agent.id, output_schema="[1]"), "check": "input_schema"}
    ).content.decode()
    assert "json-bad" not in other
    dedup = {"type": "object", "properties": {"lines": {"type": "array"}}}
    response = member.post(
        url,
        {
            **_form(agent.id, deduplication_schema=json.dumps(dedup)),
            "storage_enabled": "on",
            "deduplication": "on",
            "check": "deduplication_schema",
        },
    )
    assert "must have a scalar type" in response.content.decode()
    assert member.post(url, {**_form(agent.id), "check": "name"}).status_code == 400


def test_the_json_editors_ask_the_validate_endpoint(member: Client, org) -> None:
    make_agent(org)
    content = member.get(reverse("console:tasks_new")).content.decode()
    assert f'hx-post="{reverse("console:tasks_validate")}"' in content
    assert 'hx-target="#id_output_schema_check"' in content
    assert 'id="id_output_schema_check"' in content


def test_edit_a_task_and_it_goes_back_to_learning(member: Client, world: World) -> None:
    task = world.task
    Task.objects.filter(pk=task.pk).update(status=Task.Status.TEST, stage_successes=2)
    page = member.get(reverse("console:tasks_edit", args=[task.id])).content.decode()
    assert "sends it back to <em>learning</em>" in page
    assert f'value="{task.name}"' in page
    data = {
        **_form(world.agent.id, name="Renamed"),
        "input_schema": json.dumps(task.input_schema),
        "output_schema": json.dumps(task.output_schema),
        "prompt": task.prompt,
    }
    response = member.post(reverse("console:tasks_update", args=[task.id]), data, headers=HX)
    assert response["HX-Redirect"] == reverse("console:tasks_detail", args=[task.id])
    task.refresh_from_db()
    # A new name alone keeps the stage.
    assert (task.name, task.status, task.stage_successes) == ("Renamed", "test", 2)
    data["prompt"] = "Fetch the two latest bills instead."
    response = member.post(reverse("console:tasks_update", args=[task.id]), data, follow=True)
    task.refresh_from_db()
    assert (task.prompt, task.status, task.stage_successes) == (data["prompt"], "learning", 0)
    assert "it is learning again" in response.content.decode()


def test_edit_errors_land_on_their_fields_and_change_nothing(member: Client, world: World) -> None:
    task = world.task
    data = _form(world.agent.id, input_schema=json.dumps({"type": "object", "tokenized": ["x"]}))
    for headers in ({}, HX):
        response = member.post(
            reverse("console:tasks_update", args=[task.id]), data, headers=headers
        )
        content = response.content.decode()
        assert response.status_code == 200
        assert 'id="id_input_schema_error"' in content
    task.refresh_from_db()
    assert task.name == world.task.name
    assert task.input_schema == world.task.input_schema


def test_delete_asks_first_then_deletes_the_task_and_its_runs(member: Client, world: World) -> None:
    url = reverse("console:tasks_delete", args=[world.task.id])
    ask = member.post(url)
    assert "Delete this task?" in ask.content.decode()
    assert "its 1 run " in ask.content.decode()
    assert Task.objects.filter(pk=world.task.pk).exists()
    response = member.post(url, {"confirm": "yes"}, headers=HX)
    assert response["HX-Redirect"] == reverse("console:tasks")
    assert not Task.objects.filter(pk=world.task.pk).exists()
    assert not TaskRun.objects.filter(pk=world.run.pk).exists()


def test_the_drafter_sets_type_and_scope() -> None:
    bills = task_draft_builtin("download my last three electricity bills")
    assert (bills.type, bills.scope) == ("read", "retrieve_documents")
    balance = task_draft_builtin("what is my balance")
    assert (balance.type, balance.scope) == ("read", "retrieve_metadata")
    pay = task_draft_builtin("pay my water bill with my card number")
    assert (pay.type, pay.scope) == ("write", "trigger_action")


def test_create_from_a_sandbox_template(member: Client, org) -> None:
    agent = make_agent(org)
    page = member.get(reverse("console:tasks_new")).content.decode()
    assert "Start from a template" in page
    assert 'href="?template=fetch_latest_bill"' in page
    assert "Brightwater Energy" in page
    filled = member.get(reverse("console:tasks_new"), {"template": "fetch_latest_bill"})
    content = filled.content.decode()
    assert "From the template Fetch my latest bill." in content
    assert 'value="Fetch my latest bill"' in content
    assert f'<option value="{agent.id}" selected>' in content
    assert re.search(r"<input[^>]*name=\"storage_enabled\"[^>]*checked", content)
    form = filled.context["form"]
    data = {
        name: form[name].value() for name in form.fields if form[name].value() not in (None, False)
    }
    data = {
        key: json.dumps(value) if isinstance(value, dict) else value for key, value in data.items()
    }
    data["storage_enabled"] = "on"
    response = member.post(reverse("console:tasks_create"), data)
    task = Task.objects.get(organization=org)
    assert response.status_code == 302
    assert task.name == "Fetch my latest bill"
    assert task.storage["enabled"] is True
    assert "amount_due" in task.output_schema["properties"]
    # An unknown template is just the empty form.
    assert (
        "From the template"
        not in member.get(reverse("console:tasks_new"), {"template": "nope"}).content.decode()
    )


def test_task_page_lists_playbook_versions(
    member: Client, world: World, their_world: World
) -> None:

    steps: list[dict[str, Any]] = [
        {"tool": "goto", "value": "{{source.url}}", "optional": False},
        {"tool": "output", "fields": {"amount_due": {"from": "pair", "label": "Amount due"}}},
    ]
    url = reverse("console:tasks_detail", args=[world.task.id])
    assert "None yet." in member.get(url).content.decode()
    playbook_record(run=world.run, steps=steps)
    playbook_record(run=world.run, steps=[steps[0], {**steps[1], "x": 1}], healed_from_version=1)
    playbook_record(run=their_world.run, steps=steps)
    content = member.get(url).content.decode()
    assert "<strong>v2</strong>" in content
    assert "healed v1" in content
    assert "<strong>v1</strong>" in content
    assert "{{source.url}}" in content
    assert world.run.id in content
    theirs = member.get(reverse("console:tasks_detail", args=[their_world.task.id]))
    assert theirs.status_code == 404
