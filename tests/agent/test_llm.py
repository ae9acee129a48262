"""The llm planner end to end: a scripted OpenAI-compatible server on loopback plays the model,
the real harness drives real Chromium against a real site served by the live test server, and
the run goes through the real lifecycle (``run_execute`` in process plays the worker).

The scripted model checks every request it gets (the OpenAI shape, the tools, the page it was
shown) and the tests assert that no secret ever reached it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from deck.events.models import Event
from deck.models import Membership
from deck.services import membership_add, organization_create
from tasks import services
from tasks.agent.browser import browser_pool_close
from tasks.agent.llm import GUIDANCE, compact_snapshot, tool_definitions
from tasks.execution import run_execute
from tasks.models import Credential, Entity, RunStep, TaskRun
from tasks.runs import run_create
from tests.agent.llm_server import Reply, ScriptedLlm, scripted_llm, text, tool_calls
from tests.api.test_resources import database_dump

KEY = "sk-llm-e2e-key-777777"
PASSWORD = "site-pass-4242!"
ACCOUNT = "ACCT-5531-SECRET-99"
CHROMIUM = "/usr/bin/chromium"

INPUT_SCHEMA = {
    "type": "object",
    "properties": {"account_number": {"type": "string"}, "month": {"type": "string"}},
    "tokenized": ["account_number"],
}
OUTPUT_SCHEMA = {
    "type": "object",
    "properties": {"organization": {"type": ["string", "null"]}},
    "required": ["organization"],
    "additionalProperties": False,
}
TOOL_NAMES = {
    "goto",
    "click",
    "type",
    "select",
    "upload",
    "download",
    "read_page",
    "extract_table",
    "screenshot",
    "ask_user",
    "login_result",
    "record_entities",
    "finish",
    "fail",
}

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is not installed")


@pytest.fixture(scope="module")
def llm() -> Iterator[ScriptedLlm]:
    with scripted_llm() as server:
        yield server
    browser_pool_close()


@pytest.fixture
def world(llm, live_server, transactional_db, settings, monkeypatch):
    """A site (the console's own login, served by the live server) whose user the credential
    logs in as, and an agent whose planner is the scripted model."""
    llm.reset()
    settings.DECK_AGENT_PLANNER = ""  # the agent's own planner, from tasks.agent.runtime
    settings.DECK_AGENT_SCREENSHOTS = False
    settings.DECK_LLM_MAX_RETRIES = 0
    # This test is the worker: nothing is published to a broker nobody consumes.
    monkeypatch.setattr("tasks.runs.run_dispatch", lambda run_id, **kwargs: False)
    organization = organization_create(name="Acme Utilities", slug="acme")
    user = get_user_model().objects.create_user(username="ops@acme.test", password=PASSWORD)
    membership_add(organization=organization, user=user, role=Membership.Role.OWNER)
    agent = services.agent_create(
        organization=organization,
        name="Model agent",
        planner="llm",
        llm_base_url=llm.base_url,
        llm_model="tiny-model",
        llm_api_key=KEY,
    )
    source = services.source_create(
        organization=organization, name="Console", url=f"{live_server.url}/login/"
    )
    task = services.task_create(
        organization=organization,
        agent_id=agent.id,
        name="Organization name",
        prompt="Sign in and report the organization's name as the site shows it.",
        input_schema=INPUT_SCHEMA,
        output_schema=OUTPUT_SCHEMA,
    )
    yield {"organization": organization, "source": source, "task": task, "llm": llm}
    llm.check()


def start(world: dict[str, Any], password: str = PASSWORD) -> TaskRun:
    credential = services.credential_create(
        organization=world["organization"],
        source_id=world["source"].id,
        auth_method="username_password",
        auth_credentials={"username": "ops@acme.test", "password": password},
    )
    return run_create(
        organization=world["organization"],
        task_id=world["task"].id,
        input={"account_number": ACCOUNT, "month": "2025-01"},
        credential_id=credential.id,
    )


def page_of(body: dict[str, Any]) -> str:
    """The latest page snapshot the planner sent."""
    pages = [m["content"] for m in body["messages"] if m["role"] == "user"]
    return next(page for page in reversed(pages) if page.startswith("Page now:"))


def results_of(body: dict[str, Any]) -> list[str]:
    """What the tools answered since the model's last turn."""
    results: list[str] = []
    for message in reversed(body["messages"]):
        if message["role"] == "assistant":
            break
        if message["role"] == "tool":
            results.insert(0, message["content"])
    return results


LOG_IN = tool_calls(
    ("type", {"target": {"label": "Email"}, "value": "{{credential.username}}"}),
    ("type", {"target": {"label": "Password"}, "value": "{{credential.password}}"}),
    ("click", {"target": {"role": "button", "name": "Log in"}, "reasoning": "Submit."}),
)


def first_turn(body: dict[str, Any]) -> Reply:
    assert body["model"] == "tiny-model"
    assert body["tool_choice"] == "auto"
    assert {tool["function"]["name"] for tool in body["tools"]} == TOOL_NAMES
    system, task = body["messages"][:2]
    assert (system["role"], system["content"]) == ("system", GUIDANCE)
    assert "Sign in and report the organization's name" in task["content"]
    assert '"account_number": "{{input.account_number}}"' in task["content"]
    assert '"month": "2025-01"' in task["content"]
    assert "{{credential.password}}" in task["content"]
    page = page_of(body)
    assert "/login/" in page.splitlines()[1]
    assert "[password] 'Password'" in page
    assert "Buttons: 'Log in'" in page
    return LOG_IN


def test_the_model_logs_in_reads_the_site_and_finishes(world):
    llm = world["llm"]

    def signed_in(body: dict[str, Any]) -> Reply:
        assert results_of(body) == ["Typed.", "Typed.", results_of(body)[2]]
        assert results_of(body)[2].startswith("Clicked.")
        page = page_of(body)
        assert "/login/" not in page.splitlines()[1]
        name = re.search(r"# (Acme Utilities)", page)
        assert name, page
        return tool_calls(
            ("login_result", {"accepted": True}),
            (
                "record_entities",
                {"entities": [{"type": "organization", "external_id": "acme", "name": name[1]}]},
            ),
            ("finish", {"output": {"organization": 42}}),
        )

    def corrected(body: dict[str, Any]) -> Reply:
        noted, recorded, refused = results_of(body)
        assert (noted, recorded) == ("Noted: signed in.", "Recorded 1 entities.")
        assert refused.startswith("Not accepted, the output does not match the schema")
        # Earlier pages shrink to their address; only the current one is shown in full.
        earlier = [m for m in body["messages"] if (m["content"] or "").startswith("(earlier page)")]
        assert len(earlier) == 2
        return tool_calls(("finish", {"output": {"organization": "Acme Utilities"}}))

    llm.add(first_turn, signed_in, corrected)
    run = start(world)
    assert run_execute(run.id) == "finished"
    run.refresh_from_db()
    assert (run.status, run.output, run.errors) == (
        "completed",
        {"organization": "Acme Utilities"},
        [],
    )
    assert len(llm.requests) == 3
    assert {r["headers"]["Authorization"] for r in llm.requests} == {f"Bearer {KEY}"}

    credential = Credential.objects.get(pk=run.credential_id)
    assert credential.status == "verified"
    assert Event.objects.filter(type="credential.verified", data__id=credential.id).count() == 1
    entity = Entity.objects.get(credential=credential)
    assert (entity.type, entity.external_id, entity.name) == (
        "organization",
        "acme",
        "Acme Utilities",
    )
    tools = list(RunStep.objects.filter(run=run).values_list("tool", "detail"))
    typed = [detail["value"] for tool, detail in tools if tool == "type"]
    assert typed == ["ops@acme.test", "[secret]"]
    assert [tool for tool, _ in tools][-1] == "finish"

    # No secret reached the model; none is stored.
    sent = llm.raw().replace(f"Bearer {KEY}", "")
    for secret in (PASSWORD, ACCOUNT, KEY):
        assert secret not in sent
        assert secret not in database_dump()


def test_a_rejected_login_fails_the_run_and_marks_the_credential(world):
    llm = world["llm"]

    def rejected(body: dict[str, Any]) -> Reply:
        page = page_of(body)
        assert "Alerts: Please enter a correct username and password" in page
        return tool_calls(
            ("login_result", {"accepted": False, "message": "The site says the login is wrong."})
        )

    llm.add(first_turn, rejected)
    run = start(world, password="not-the-password")
    assert run_execute(run.id) == "failed"
    run.refresh_from_db()
    assert run.errors == [
        {"type": "source", "code": "auth_invalid", "message": "The site says the login is wrong."}
    ]
    credential = Credential.objects.get(pk=run.credential_id)
    assert credential.status == "invalid"
    assert Event.objects.filter(type="credential.invalid", data__id=credential.id).exists()
    assert "not-the-password" not in llm.raw()


def test_an_unreachable_model_fails_the_run_clearly(world):
    services.agent_update(
        organization=world["organization"],
        agent_id=world["task"].agent_id,
        changes={"llm_base_url": "http://127.0.0.1:9/v1"},
    )
    run = start(world)
    assert run_execute(run.id) == "failed"
    run.refresh_from_db()
    [error] = run.errors
    assert (error["type"], error["code"]) == ("api", "llm_unavailable")
    assert "http://127.0.0.1:9/v1/chat/completions cannot be reached" in error["message"]


def test_turn_budget_bad_tool_calls_and_a_conversation_that_stays_small(
    world, settings, monkeypatch
):
    settings.DECK_LLM_MAX_STEPS = 5
    monkeypatch.setattr("tasks.agent.llm.OLD_RESULT_CHARS", 60)
    llm = world["llm"]

    def read(body: dict[str, Any]) -> Reply:
        page, missing = results_of(body)
        assert page.startswith("URL: ")
        assert "[password] 'Password'" in page
        assert missing == "Not done: there is no tool 'teleport'."
        return tool_calls(("click", {"target": {"text": "No such thing anywhere"}}))

    def failed(body: dict[str, Any]) -> Reply:
        [result] = results_of(body)
        assert result.startswith("Failed: No element matches")
        [earlier] = [m for m in body["messages"] if m.get("tool_call_id") == "call_0_read_page"]
        assert earlier["content"].endswith(" …(trimmed)")
        assert len(earlier["content"]) == 60 + len(" …(trimmed)")
        return text("I am not sure what to do.")

    def nudged(body: dict[str, Any]) -> Reply:
        assert body["messages"][-3]["content"] == "I am not sure what to do."
        assert body["messages"][-2]["content"].startswith("Use the tools")
        return text("Still not sure.")

    llm.add(
        tool_calls(("read_page", {}), ("teleport", {})),
        read,
        failed,
        nudged,
        tool_calls(("screenshot", {})),
    )
    run = start(world)
    assert run_execute(run.id) == "failed"
    run.refresh_from_db()
    assert run.errors[0]["code"] == "step_budget_exceeded"
    assert "DECK_LLM_MAX_STEPS" in run.errors[0]["message"]
    assert len(llm.requests) == 5
    pages = [
        m["content"]
        for m in llm.requests[-1]["body"]["messages"]
        if m["role"] == "user" and m["content"].startswith(("Page now:", "(earlier page)"))
    ]
    assert len(pages) == 5
    assert all(page.startswith("(earlier page) URL: http") for page in pages[:4])
    assert all(page.endswith("| Title: Log in · Deck") for page in pages[:4])
    assert pages[4].startswith("Page now:\nURL: http")


# -- pieces ---------------------------------------------------------------------------------


def test_no_model_configured_fails_before_a_browser_opens(monkeypatch):
    from tasks.agent import llm as planner_module
    from tasks.agent.llm import LlmPlanner
    from tasks.agent.llm_client import LlmError
    from tests.agent.conftest import bare_context

    def no_browser(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a browser was opened")

    monkeypatch.setattr(planner_module, "Harness", no_browser)
    context = bare_context(llm_settings=lambda: {"base_url": "", "model": "m", "api_key": ""})
    with pytest.raises(LlmError) as caught:
        LlmPlanner().run(context)
    assert (caught.value.type, caught.value.code) == ("api", "llm_unavailable")
    assert "llm_base_url" in caught.value.message


def test_tool_definitions_are_valid_json_schema():
    from jsonschema import Draft202012Validator

    for tool in tool_definitions(OUTPUT_SCHEMA):
        Draft202012Validator.check_schema(tool["function"]["parameters"])
    finish = next(t for t in tool_definitions(OUTPUT_SCHEMA) if t["function"]["name"] == "finish")
    assert finish["function"]["parameters"]["properties"]["output"] == OUTPUT_SCHEMA


def test_compact_snapshot_is_bounded():
    snapshot = {
        "url": "https://portal.example/bills",
        "title": "Bills",
        "alerts": [],
        "headings": [{"level": 1, "text": "Bills"}],
        "inputs": [],
        "buttons": [],
        "links": [{"name": f"Bill {i}", "href": f"/bills/{i}.pdf"} for i in range(500)],
        "tables": [
            {
                "index": 0,
                "caption": "History",
                "heading": "",
                "headers": ["Date", "Amount"],
                "rows": [{"cells": ["2025-01-01", "$1"], "links": []}] * 40,
            }
        ],
        "pairs": [{"label": "Balance", "value": "$12.50", "group": "Account"}],
        "text": "x" * 50_000,
    }
    text = compact_snapshot(snapshot)
    assert len(text) <= 9000
    assert "# Bills" in text
    assert "'Bill 59' -> /bills/59.pdf" in text
    assert "'Bill 60'" not in text
    assert "… 25 more rows (extract_table reads all)" in text
    assert json.dumps(snapshot)  # unchanged input


# -- a sandbox portal -----------------------------------------------------------------------

CASCADE_OUTPUT = {
    "type": "object",
    "properties": {
        "account_number": {"type": ["string", "null"]},
        "amount_due": {"type": ["number", "null"]},
    },
    "required": ["account_number", "amount_due"],
}


@pytest.fixture
def sandbox(llm, live_server, transactional_db, settings, monkeypatch):
    """An organization with an llm agent; ``portal(slug, path, login, output_schema)`` adds
    a source on that sandbox portal, a credential and a task."""
    from datetime import date

    llm.reset()
    settings.SANDBOX_TODAY = date(2026, 3, 18)
    settings.DECK_AGENT_PLANNER = ""
    settings.DECK_AGENT_SCREENSHOTS = False
    settings.DECK_LLM_MAX_RETRIES = 0
    monkeypatch.setattr("tasks.runs.run_dispatch", lambda run_id, **kwargs: False)
    organization = organization_create(name="Acme Utilities", slug="acme")
    agent = services.agent_create(
        organization=organization,
        name="Model agent",
        planner="llm",
        llm_base_url=llm.base_url,
        llm_model="tiny-model",
        llm_api_key=KEY,
    )

    def portal(path: str, auth_credentials: dict[str, Any], prompt: str, output: dict) -> Any:
        source = services.source_create(
            organization=organization, name=path, url=f"{live_server.url}/sandbox/{path}"
        )
        credential = services.credential_create(
            organization=organization,
            source_id=source.id,
            auth_method="username_password",
            auth_credentials=auth_credentials,
        )
        task = services.task_create(
            organization=organization,
            agent_id=agent.id,
            name=path,
            prompt=prompt,
            input_schema={"type": "object"},
            output_schema=output,
        )
        return organization, credential, task

    yield portal
    llm.check()


def test_the_model_works_a_sandbox_portal_with_a_security_question(llm, sandbox):
    """Cascade Power & Gas: sign in, answer the security question from the credential's
    source fields, list the accounts as entities, pick one, read its latest statement; then a
    run scoped to that entity tells the model so."""
    from tasks.sandbox.accounts import sandbox_multi_account_login
    from tasks.sandbox.selectors import account_balance

    login = sandbox_multi_account_login("cascade")
    cabin = next(a for a in login.accounts if a.nickname.startswith("Cabin"))
    latest = account_balance(portal="cascade", login=login, account=cabin).latest
    organization, credential, task = sandbox(
        "cascade/signin/",
        login.auth_credentials(),
        "Open the cabin's account and report its number and latest statement total.",
        CASCADE_OUTPUT,
    )

    def sign_in(body: dict[str, Any]) -> Reply:
        task_message = body["messages"][1]["content"]
        assert "{{credential.security_answer}}" in task_message
        assert "Buttons: 'Sign in'" in page_of(body)
        return tool_calls(
            ("type", {"target": {"label": "Username"}, "value": "{{credential.username}}"}),
            ("type", {"target": {"label": "Password"}, "value": "{{credential.password}}"}),
            ("click", {"target": {"role": "button", "name": "Sign in"}}),
        )

    def answer(body: dict[str, Any]) -> Reply:
        question = re.search(r"\[text\] '([^']+\?)'", page_of(body))
        assert question, page_of(body)
        return tool_calls(
            ("type", {"target": {"label": question[1]}, "value": "{{credential.security_answer}}"}),
            ("click", {"target": {"role": "button", "name": "Continue"}}),
        )

    def choose(body: dict[str, Any]) -> Reply:
        page = page_of(body)
        radios = re.findall(r"\[radio\] '(.+?) Account (\S+) .*? meter (\S+)' value=", page)
        assert len(radios) == 3, page
        entities = [
            {"type": "account", "external_id": n, "name": name, "attributes": {"meter": m}}
            for name, n, m in radios
        ]
        wanted = next(name for name, _, _ in radios if name.startswith("Cabin"))
        return tool_calls(
            ("login_result", {"accepted": True}),
            ("record_entities", {"entities": entities}),
            ("select", {"target": {"label": wanted}, "value": "on"}),
            ("click", {"target": {"role": "button", "name": "Continue"}}),
        )

    def statement(body: dict[str, Any]) -> Reply:
        page = page_of(body)
        number = re.search(r"- \[Your account\] Account number: (\S+)", page)
        total = re.search(r"- \[Latest statement\] Total: \$([\d,]+\.\d\d)", page)
        assert number, page
        assert total, page
        output = {"account_number": number[1], "amount_due": float(total[1].replace(",", ""))}
        return tool_calls(("finish", {"output": output}))

    llm.add(sign_in, answer, choose, statement)
    run = run_create(
        organization=organization, task_id=task.id, input={}, credential_id=credential.id
    )
    assert run_execute(run.id) == "finished", TaskRun.objects.get(pk=run.id).errors
    llm.check()
    run.refresh_from_db()
    assert run.output == {"account_number": cabin.number, "amount_due": float(latest.amount_due)}
    credential.refresh_from_db()
    assert credential.status == "verified"
    recorded = {e.external_id: e for e in Entity.objects.filter(credential=credential)}
    assert set(recorded) == {account.number for account in login.accounts}
    assert recorded[cabin.number].attributes == {"meter": cabin.meter}

    # A run scoped to the cabin's entity: the model is told to work on it only.
    def scoped(body: dict[str, Any]) -> Reply:
        task_message = body["messages"][1]["content"]
        assert "Work only on these entities:" in task_message
        assert cabin.number in task_message
        assert login.accounts[0].number not in task_message
        return tool_calls(
            ("finish", {"output": {"account_number": cabin.number, "amount_due": None}})
        )

    llm.add(scoped)
    again = run_create(
        organization=organization,
        task_id=task.id,
        input={},
        credential_id=credential.id,
        entity_ids=[recorded[cabin.number].id],
    )
    assert run_execute(again.id) == "finished"
    llm.check()

    sent = llm.raw().replace(f"Bearer {KEY}", "")
    for secret in (login.password, login.security_answer, KEY):
        assert secret not in sent
        assert secret not in database_dump()


def test_the_model_asks_for_an_mfa_code_and_resumes_after_the_answer(llm, sandbox):
    """Brightwater Energy without the TOTP seed in the credential: the model asks the person
    for the code, the run pauses, the answer resumes it on the same logged-in page, and the
    code reaches the site through {{answer.code}} — never the model."""
    import pyotp

    from tasks.runs import run_answer
    from tasks.sandbox.accounts import sandbox_primary_login

    login = sandbox_primary_login("brightwater")
    account = login.accounts[0]
    organization, credential, task = sandbox(
        "brightwater/login/",
        {"username": login.username, "password": login.password},
        "Sign in and report the account number.",
        {
            "type": "object",
            "properties": {"account_number": {"type": "string"}},
            "required": ["account_number"],
        },
    )
    ask = (
        "ask_user",
        {
            "type": "mfa",
            "message": "Enter the 6-digit code from your authenticator app.",
            "fields": [{"name": "code", "type": "text", "label": "6-digit code"}],
        },
    )

    def sign_in(body: dict[str, Any]) -> Reply:
        assert "{{credential.totp}}" not in body["messages"][1]["content"]
        return tool_calls(
            ("type", {"target": {"label": "Email address"}, "value": "{{credential.username}}"}),
            ("type", {"target": {"label": "Password"}, "value": "{{credential.password}}"}),
            ("click", {"target": {"role": "button", "name": "Sign in"}}),
        )

    def code_page(body: dict[str, Any]) -> Reply:
        assert "[text] '6-digit code'" in page_of(body) or "'6-digit code'" in page_of(body)
        return tool_calls(ask)

    llm.add(sign_in, code_page)
    run = run_create(
        organization=organization, task_id=task.id, input={}, credential_id=credential.id
    )
    assert run_execute(run.id) == "interaction_required"
    run.refresh_from_db()
    assert run.interaction["fields"] == [{"name": "code", "type": "text", "label": "6-digit code"}]

    code = pyotp.TOTP(login.totp_secret).now()
    run_answer(organization=organization, run_id=run.id, answer={"code": code})

    def resumed(body: dict[str, Any]) -> Reply:
        # A fresh conversation on the page the run paused on.
        assert "'6-digit code'" in page_of(body)
        return tool_calls(
            ask,
            ("type", {"target": {"label": "6-digit code"}, "value": "{{answer.code}}"}),
            ("click", {"target": {"role": "button", "name": "Verify"}}),
        )

    def overview(body: dict[str, Any]) -> Reply:
        answered, typed, clicked = results_of(body)
        assert answered == "The person answered. Use {{answer.code}} to type the answer."
        assert (typed, clicked.split(".")[0]) == ("Typed.", "Clicked")
        number = re.search(r"- (?:\[[^]]*\] )?Account number: (\S+)", page_of(body))
        assert number, page_of(body)
        return tool_calls(("finish", {"output": {"account_number": number[1]}}))

    llm.add(resumed, overview)
    assert run_execute(run.id) == "finished", TaskRun.objects.get(pk=run.id).errors
    llm.check()
    run.refresh_from_db()
    assert run.output == {"account_number": account.number}
    credential.refresh_from_db()
    assert credential.status == "verified"  # finished after typing the password
    sent = llm.raw().replace(f"Bearer {KEY}", "")
    for secret in (login.password, code):
        assert secret not in sent
