"""Running tasks from the console: the generated Run form, the live run page and its tabs,
and the run, task and session actions."""

from __future__ import annotations

import html
import re
from urllib.parse import urlparse

import pytest
from django.test import Client
from django.urls import reverse

from deck.events.models import Event
from tasks.execution import run_execute
from tasks.models import Session, Task, TaskRun
from tasks.runs import run_create
from tests.api.factories import make_credential, make_source, make_task
from tests.console.conftest import CARD, PAYMENT_INPUT_SCHEMA, World, make_world

HX = {"HX-Request": "true"}
TABS = ("input", "output", "storage", "screenshots", "steps", "events")
SECRET = "5500-0000-0000-0004"


def _run_url(run: TaskRun) -> str:
    return reverse("console:runs_detail", args=[run.id])


def test_run_form_has_an_input_per_property(member: Client, world: World) -> None:
    content = member.get(reverse("console:tasks_detail", args=[world.task.id])).content.decode()
    assert re.search(r'<input type="password" name="input_card_number"[^>]*data-tokenized', content)
    assert 'class="badge badge-secret">tokenized<' in content
    assert "The card to pay with." in content
    assert re.search(r'<input type="date" name="input_start_date"', content)
    assert re.search(r'<input type="number" name="input_count"', content)
    assert re.search(r'<input type="number" name="input_amount"[^>]*step="any"', content)
    assert re.search(r'<input type="checkbox" name="input_urgent"', content)
    assert '<option value="&quot;plus&quot;">plus</option>' in content
    assert f'<option value="credential:{world.credential.id}"' in content
    assert f'<option value="source:{world.source.id}"' in content
    assert "0 of 3" in content
    assert "to <strong>test</strong>" in content


def test_file_inputs_are_a_note(member: Client, org) -> None:
    schema = {
        "type": "object",
        "properties": {
            "bill": {
                "type": "object",
                "properties": {"purpose": {"const": "attachment"}, "data": {"type": "string"}},
            }
        },
    }
    task = make_task(org, input_schema=schema)
    content = member.get(reverse("console:tasks_detail", args=[task.id])).content.decode()
    assert "is a file input (attachment)" in content
    assert 'name="input_bill"' not in content


def test_run_form_creates_a_run_with_tokenized_input(member: Client, world: World) -> None:
    response = member.post(
        reverse("console:tasks_run", args=[world.task.id]),
        {
            "target": f"credential:{world.credential.id}",
            "input_card_number": SECRET,
            "input_start_date": "2025-01-15",
            "input_count": "3",
            "input_amount": "12.5",
            "input_urgent": "on",
            "input_plan": '"plus"',
        },
    )
    run = TaskRun.objects.exclude(pk=world.run.pk).get(task=world.task)
    assert response.status_code == 302
    assert response["Location"] == _run_url(run)
    assert run.input == {
        "start_date": "2025-01-15",
        "count": 3,
        "amount": 12.5,
        "urgent": True,
        "plan": "plus",
    }
    assert run.tokenized == ["card_number"]
    assert run.credential_id == world.credential.id

    pages = [
        _run_url(run),
        reverse("console:runs"),
        reverse("console:tasks_detail", args=[world.task.id]),
    ]
    pages += [f"{_run_url(run)}?tab={tab}" for tab in TABS]
    for url in pages:
        for headers in ({}, HX, {**HX, "HX-Target": "run-tab"}, {**HX, "HX-Target": "run-header"}):
            content = member.get(url, headers=headers).content.decode()
            assert SECRET not in content, (url, headers)
    events = member.get(f"{_run_url(run)}?tab=events").content.decode()
    assert "task_run.queued" in events
    tab = member.get(f"{_run_url(run)}?tab=input", headers={**HX, "HX-Target": "run-tab"})
    text = tab.content.decode()
    assert text.lstrip().startswith('<section id="run-tab"')
    assert re.search(r"card_number</code></td><td><span[^>]*>removed \(tokenized\)", text)


def test_run_form_with_htmx_redirects_to_the_run(member: Client, world: World) -> None:
    response = member.post(
        reverse("console:tasks_run", args=[world.task.id]),
        {"target": f"source:{world.source.id}", "input_card_number": SECRET},
        headers=HX,
    )
    run = TaskRun.objects.exclude(pk=world.run.pk).get(task=world.task)
    assert response["HX-Redirect"] == _run_url(run)
    assert run.credential_id is None
    assert run.source_id == world.source.id


def test_run_input_errors_show_per_field_and_never_echo_secrets(
    member: Client, world: World
) -> None:
    cases = [
        ({"input_start_date": "2025-13-45"}, "input_start_date", "is not a 'date'"),
        ({"input_count": "0"}, "input_count", "less than the minimum of 1"),
        ({"input_count": "two"}, "input_count", "Enter a whole number."),
        ({"input_card_number": ""}, "input_card_number", "This field is required."),
    ]
    for fields, field, message in cases:
        data = {
            "target": f"credential:{world.credential.id}",
            "input_card_number": SECRET,
            **fields,
        }
        for headers in ({}, HX):
            response = member.post(
                reverse("console:tasks_run", args=[world.task.id]), data, headers=headers
            )
            content = html.unescape(response.content.decode())
            assert response.status_code == 200
            assert f'id="id_{field}_error"' in content, fields
            assert message in content, fields
            assert SECRET not in content
            if headers:
                assert content.lstrip().startswith('<form id="run-form"')
    assert TaskRun.objects.filter(task=world.task).count() == 1


def test_a_tokenized_value_breaking_the_schema_is_not_quoted(member: Client, org) -> None:
    schema = {
        "type": "object",
        "properties": {"pin": {"type": "string", "pattern": "^[0-9]{4}$"}},
        "tokenized": ["pin"],
    }
    task = make_task(org, input_schema=schema)
    credential = make_credential(org)
    response = member.post(
        reverse("console:tasks_run", args=[task.id]),
        {"target": f"credential:{credential.id}", "input_pin": "letmein-secret"},
    )
    content = response.content.decode()
    assert 'id="id_input_pin_error"' in content
    assert "value withheld: tokenized" in content
    assert "letmein-secret" not in content


def test_run_needs_a_target_of_the_organization(
    member: Client, world: World, their_world: World
) -> None:
    response = member.post(
        reverse("console:tasks_run", args=[world.task.id]),
        {"target": f"credential:{their_world.credential.id}", "input_card_number": SECRET},
    )
    assert 'id="id_target_error"' in response.content.decode()
    assert TaskRun.objects.filter(task=world.task).count() == 1


def test_header_polls_only_until_the_run_is_terminal(member: Client, world: World) -> None:
    headers = {**HX, "HX-Target": "run-header"}
    url = _run_url(world.run)
    content = member.get(url, headers=headers).content.decode()
    assert content.lstrip().startswith('<section id="run-header"')
    assert 'hx-trigger="every 2s"' in content
    assert "&quot;seen&quot;: &quot;queued&quot;" in content or '"seen": "queued"' in content

    # Still queued: the header again. Moved on: the page reloads to show the rest too.
    assert member.get(url, {"seen": "queued"}, headers=headers).get("HX-Refresh") is None
    assert run_execute(world.run.id) == "finished"
    response = member.get(url, {"seen": "queued"}, headers=headers)
    assert response["HX-Refresh"] == "true"

    content = member.get(url, headers=headers).content.decode()
    assert 'data-status="completed"' in content
    assert "every 2s" not in content
    page = member.get(url).content.decode()
    assert "every 2s" not in page
    assert "Cancel run" not in page


def test_tabs(member: Client, world: World) -> None:
    assert run_execute(world.run.id) == "finished"
    url = _run_url(world.run)

    def tab(name: str) -> str:
        response = member.get(url, {"tab": name}, headers={**HX, "HX-Target": "run-tab"})
        return response.content.decode()

    assert "Matches the task's output schema." in tab("output")
    assert "&quot;echo&quot;" in tab("output")
    assert "No files captured." in tab("storage")
    assert "No screenshots for this run." in tab("screenshots")
    steps = tab("steps")
    assert "#1" in steps
    assert "log in" in steps
    assert "[redacted]" in steps
    assert "hunter2-secret" not in steps
    events = tab("events")
    names = re.findall(r"task_run\.\w+", events)
    assert names[0] == "task_run.queued"
    assert names[-1] == "task_run.completed"
    assert 'href="?tab=steps"' in events
    assert 'hx-get="' in events

    TaskRun.objects.filter(pk=world.run.pk).update(output={"amount_due": "lots"})
    assert "Does not match the task" in tab("output")
    assert "amount_due: 'lots' is not of type 'number'" in html.unescape(tab("output"))


def test_cancel(member: Client, world: World) -> None:
    response = member.post(reverse("console:runs_cancel", args=[world.run.id]), follow=True)
    assert b"Run canceled." in response.content
    world.run.refresh_from_db()
    assert world.run.status == TaskRun.Status.CANCELED
    response = member.post(reverse("console:runs_cancel", args=[world.run.id]), headers=HX)
    assert response["HX-Redirect"] == _run_url(world.run)
    page = member.get(_run_url(world.run)).content.decode()
    assert "only unfinished runs can be canceled" in page


def test_answering_an_interaction_resumes_the_run(member: Client, org) -> None:
    world = make_world(org, prompt="ask")
    assert run_execute(world.run.id) == "interaction_required"
    url = _run_url(world.run)
    page = member.get(url).content.decode()
    assert "Enter the code we sent you." in page
    assert 'name="answer_code"' in page
    assert 'autocomplete="one-time-code"' in page
    assert "every 2s" in page

    answer_url = reverse("console:runs_answer", args=[world.run.id])
    response = member.post(answer_url, {"answer_code": ""}, headers=HX)
    content = response.content.decode()
    assert content.lstrip().startswith('<form id="interaction-form"')
    assert 'id="id_answer_code_error"' in content
    world.run.refresh_from_db()
    assert world.run.status == TaskRun.Status.INTERACTION_REQUIRED

    response = member.post(answer_url, {"answer_code": "123456"})
    assert response["Location"] == url
    world.run.refresh_from_db()
    assert world.run.status == TaskRun.Status.QUEUED
    assert run_execute(world.run.id) == "finished"
    world.run.refresh_from_db()
    assert world.run.status == TaskRun.Status.COMPLETED
    assert (world.run.output or {}).get("mfa") == "ok"

    # Answering again: the run no longer waits.
    response = member.post(answer_url, {"answer_code": "123456"}, follow=True)
    assert b"it is not waiting for an answer" in response.content


@pytest.fixture
def review_world(org) -> World:
    world = make_world(org)
    Task.objects.filter(pk=world.task.pk).update(review_required=True)
    assert run_execute(world.run.id) == "finished"
    world.run.refresh_from_db()
    assert world.run.status == TaskRun.Status.REVIEW_REQUIRED
    return world


def test_approve(member: Client, review_world: World) -> None:
    run = review_world.run
    page = member.get(_run_url(run)).content.decode()
    assert "Review the result" in page
    response = member.post(reverse("console:runs_approve", args=[run.id]), follow=True)
    assert b"Approved" in response.content
    run.refresh_from_db()
    assert run.status == TaskRun.Status.COMPLETED
    review_world.task.refresh_from_db()
    assert review_world.task.stage_successes == 1
    response = member.post(reverse("console:runs_approve", args=[run.id]), follow=True)
    assert b"only runs in review can be approved" in response.content


def test_reject(member: Client, review_world: World) -> None:
    run = review_world.run
    response = member.post(
        reverse("console:runs_reject", args=[run.id]), {"reason": "Wrong account"}, headers=HX
    )
    assert response["HX-Redirect"] == _run_url(run)
    run.refresh_from_db()
    assert run.status == TaskRun.Status.FAILED
    assert run.errors[-1]["message"] == "Wrong account"
    assert "review_rejected" in member.get(_run_url(run)).content.decode()


def test_reset_asks_first_without_javascript(member: Client, world: World) -> None:
    Task.objects.filter(pk=world.task.pk).update(status=Task.Status.TEST, stage_successes=2)
    url = reverse("console:tasks_reset", args=[world.task.id])
    detail = member.get(reverse("console:tasks_detail", args=[world.task.id])).content.decode()
    assert "hx-confirm=" in detail
    assert "2 of 3" in detail

    response = member.post(url)
    assert b"Reset this task?" in response.content
    world.task.refresh_from_db()
    assert world.task.status == Task.Status.TEST

    response = member.post(url, {"confirm": "yes"}, follow=True)
    assert b"it is learning again" in response.content
    world.task.refresh_from_db()
    assert (world.task.status, world.task.stage_successes) == (Task.Status.LEARNING, 0)
    assert Event.objects.filter(type="task.reset", data__id=world.task.id).exists()


def test_reset_with_htmx(member: Client, world: World) -> None:
    Task.objects.filter(pk=world.task.pk).update(status=Task.Status.LIVE)
    response = member.post(
        reverse("console:tasks_reset", args=[world.task.id]), {"confirm": "yes"}, headers=HX
    )
    assert response["HX-Redirect"] == reverse("console:tasks_detail", args=[world.task.id])
    world.task.refresh_from_db()
    assert world.task.status == Task.Status.LEARNING


def test_end_a_session(member: Client, world: World) -> None:
    session_id = world.run.session_id
    assert session_id
    url = reverse("console:sessions_end", args=[session_id])
    detail = member.get(reverse("console:sessions_detail", args=[session_id])).content.decode()
    assert world.run.id in detail
    assert "hx-confirm=" in detail

    assert b"End this session?" in member.post(url).content
    assert Session.objects.get(pk=session_id).status == Session.Status.QUEUED

    response = member.post(url, {"confirm": "yes"}, headers=HX)
    assert response["HX-Redirect"] == reverse("console:sessions_detail", args=[session_id])
    assert Session.objects.get(pk=session_id).status == Session.Status.COMPLETED
    world.run.refresh_from_db()
    assert world.run.status == TaskRun.Status.CANCELED
    detail = member.get(reverse("console:sessions_detail", args=[session_id])).content.decode()
    assert "End session" not in detail


def test_sessions_filter_by_status(member: Client, world: World) -> None:
    url = reverse("console:sessions")
    session_id = str(world.run.session_id)
    assert session_id in member.get(url, {"status": "queued"}).content.decode()
    assert session_id not in member.get(url, {"status": "idle"}).content.decode()


def test_runs_filter_and_paginate(member: Client, org, monkeypatch) -> None:
    monkeypatch.setattr("console.shortcuts.PAGE_SIZE", 2)
    task = make_task(org, input_schema=PAYMENT_INPUT_SCHEMA)
    other_task = make_task(org, name="Another task")
    source = make_source(org)
    first, second = make_credential(org, source), make_credential(org, source, username="sam")
    runs = [
        run_create(
            organization=org, task_id=task.id, input={"card_number": CARD}, credential_id=c.id
        )
        for c in (first, first, second)
    ]
    other = run_create(organization=org, task_id=other_task.id, input={}, source_id=source.id)
    TaskRun.objects.filter(pk=runs[0].pk).update(status=TaskRun.Status.FAILED)
    url = reverse("console:runs")

    def ids(params: dict[str, str]) -> set[str]:
        content = member.get(url, params, headers=HX).content.decode()
        return set(re.findall(r"trun_\w+", content))

    assert ids({"task": task.id}) == {runs[2].id, runs[1].id}  # newest first, page 1 of 2
    assert ids({"task": task.id, "page": "2"}) == {runs[0].id}
    assert ids({"status": "failed"}) == {runs[0].id}
    assert ids({"credential": second.id}) == {runs[2].id}
    assert ids({"task": other_task.id}) == {other.id}
    page = member.get(url, {"task": task.id}).content.decode()
    assert "Page 1 of 2" in page
    assert f"?task={task.id}&amp;page=2" in page


def test_dashboard_counts_and_recent_failures(member: Client, org, world: World) -> None:
    failing = make_world(org, prompt="fail card_declined")
    assert run_execute(failing.run.id) == "failed"
    response = member.get(reverse("console:home"))
    assert response.context["task_count"] == 2
    assert response.context["runs_today"] == 2
    assert response.context["failed_today"] == 1
    assert response.context["active_sessions"] == 1  # the queued run's session
    content = response.content.decode()
    assert f'href="{_run_url(failing.run)}"' in content
    assert "task/card_declined" in content


def test_the_screenshots_tab_shows_each_step_png(member: Client, world: World, settings, tmp_path):
    from tasks.execution import _step_recorder

    settings.MEDIA_ROOT = tmp_path
    TaskRun.objects.filter(pk=world.run.pk).update(status=TaskRun.Status.RUNNING)
    step = _step_recorder(world.run)
    step(
        "click", {"target": {"text": "Bills"}}, reasoning="Open the bills.", screenshot=b"\x89PNG1"
    )
    page = member.get(
        _run_url(world.run), {"tab": "screenshots"}, headers={**HX, "HX-Target": "run-tab"}
    ).content.decode()
    assert "Open the bills." in page
    link = page.split('<img src="')[1].split('"')[0].replace("&amp;", "&")
    assert "/files/" in link
    served = member.get(urlparse(link).path)
    assert served.status_code == 200
    assert served.getvalue() == b"\x89PNG1"
