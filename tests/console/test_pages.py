"""Every console page: full page and htmx partial, login required, scoped to the member's
organization (another organization's object is a 404 for every detail and action URL)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client
from django.urls import reverse

from tasks.models import Task, TaskRun
from tests.console.conftest import World

# (URL name, object the URL takes or None, htmx target or None, what the partial starts with)
PAGES: list[tuple[str, Callable[[World], str] | None, str | None, str | None]] = [
    ("console:home", None, None, None),
    ("console:agents", None, None, '<div id="agents-panel"'),
    ("console:agents_detail", lambda w: w.agent.id, None, None),
    ("console:agents_edit", lambda w: w.agent.id, None, '<form id="agent-form"'),
    ("console:sources", None, None, None),
    ("console:sources_new", None, None, '<form id="source-form"'),
    ("console:sources_edit", lambda w: w.source.id, None, '<form id="source-form"'),
    ("console:credentials", None, None, '<div id="credentials-table"'),
    ("console:credentials_new", None, None, '<form id="credential-form"'),
    ("console:credentials_edit", lambda w: w.credential.id, None, '<form id="credential-form"'),
    ("console:tasks", None, None, '<div id="tasks-table"'),
    ("console:tasks_new", None, None, '<form id="task-form"'),
    ("console:tasks_detail", lambda w: w.task.id, None, '<form id="run-form"'),
    ("console:runs", None, None, '<div id="runs-table"'),
    ("console:runs_detail", lambda w: w.run.id, "run-header", '<section id="run-header"'),
    ("console:runs_detail", lambda w: w.run.id, "run-tab", '<section id="run-tab"'),
    ("console:sessions", None, None, '<div id="sessions-table"'),
    ("console:entities", None, None, '<div id="entities-table"'),
    ("console:sessions_detail", lambda w: w.run.session_id or "", None, None),
]

DETAIL_GETS = [(name, arg) for name, arg, _, _ in PAGES if arg is not None]

ACTIONS: list[tuple[str, Callable[[World], str]]] = [
    ("console:tasks_run", lambda w: w.task.id),
    ("console:tasks_reset", lambda w: w.task.id),
    ("console:runs_cancel", lambda w: w.run.id),
    ("console:runs_answer", lambda w: w.run.id),
    ("console:runs_approve", lambda w: w.run.id),
    ("console:runs_reject", lambda w: w.run.id),
    ("console:sessions_end", lambda w: w.run.session_id or ""),
    ("console:credentials_update", lambda w: w.credential.id),
    ("console:sources_update", lambda w: w.source.id),
    ("console:agents_update", lambda w: w.agent.id),
]

CREATES = [
    "console:agents_create",
    "console:sources_create",
    "console:credentials_create",
    "console:tasks_create",
]


def _url(name: str, arg: Callable[[World], str] | None, world: World) -> str:
    return reverse(name, args=[arg(world)] if arg else [])


@pytest.mark.parametrize(("name", "arg", "target", "partial"), PAGES)
def test_page_renders_whole_and_as_its_partial(
    member: Client, world: World, name, arg, target, partial
) -> None:
    url = _url(name, arg, world)
    response = member.get(url)
    content = response.content.decode()
    assert response.status_code == 200, content
    assert "<html" in content
    assert 'aria-current="page"' in content  # the section is highlighted in the navigation
    if partial is None:
        return
    headers = {"HX-Request": "true"}
    if target:
        headers["HX-Target"] = target
    response = member.get(url, headers=headers)
    content = response.content.decode()
    assert response.status_code == 200
    assert content.lstrip().startswith(partial), content[:200]
    assert "<html" not in content
    assert "HX-Request" in response["Vary"]


def test_a_history_restore_gets_the_whole_page(member: Client, world: World) -> None:
    response = member.get(
        reverse("console:runs"),
        headers={"HX-Request": "true", "HX-History-Restore-Request": "true"},
    )
    assert "<html" in response.content.decode()


@pytest.mark.parametrize(("name", "arg"), DETAIL_GETS)
def test_another_organizations_object_is_404(
    member: Client, world: World, their_world: World, name, arg
) -> None:
    url = _url(name, arg, their_world)
    for headers in ({}, {"HX-Request": "true"}, {"HX-Request": "true", "HX-Target": "run-tab"}):
        assert member.get(url, headers=headers).status_code == 404


@pytest.mark.parametrize(("name", "arg"), ACTIONS)
def test_another_organizations_object_is_404_for_actions(
    member: Client, world: World, their_world: World, name, arg
) -> None:
    url = _url(name, arg, their_world)
    data = {"confirm": "yes", "target": f"credential:{their_world.credential.id}"}
    for headers in ({}, {"HX-Request": "true"}):
        assert member.post(url, data, headers=headers).status_code == 404
    their_world.run.refresh_from_db()
    their_world.task.refresh_from_db()
    assert their_world.run.status == TaskRun.Status.QUEUED
    assert TaskRun.objects.filter(task=their_world.task).count() == 1
    assert their_world.task.status == Task.Status.LEARNING


def test_unknown_ids_are_404(member: Client, world: World) -> None:
    for name, _ in DETAIL_GETS:
        assert member.get(reverse(name, args=["nope_123"])).status_code == 404


@pytest.mark.parametrize(("name", "arg"), [(n, a) for n, a, _, _ in PAGES])
def test_anonymous_is_sent_to_login_from_pages(client: Client, world: World, name, arg) -> None:
    response = client.get(_url(name, arg, world))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("console:login"))


def test_anonymous_is_sent_to_login_from_actions(client: Client, world: World) -> None:
    urls = [_url(name, arg, world) for name, arg in ACTIONS] + [reverse(n) for n in CREATES]
    for url in urls:
        response = client.post(url, {"confirm": "yes"})
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("console:login"))
    world.run.refresh_from_db()
    assert world.run.status == TaskRun.Status.QUEUED


def test_actions_are_post_only(member: Client, world: World) -> None:
    for name, arg in ACTIONS:
        assert member.get(_url(name, arg, world)).status_code == 405
    for name in CREATES:
        assert member.get(reverse(name)).status_code == 405


def test_lists_show_only_the_organizations_objects(
    member: Client, world: World, their_world: World
) -> None:
    for name, mine, theirs in [
        ("console:agents", world.agent.id, their_world.agent.id),
        ("console:sources", world.source.id, their_world.source.id),
        ("console:credentials", world.credential.id, their_world.credential.id),
        ("console:tasks", world.task.id, their_world.task.id),
        ("console:runs", world.run.id, their_world.run.id),
        ("console:sessions", str(world.run.session_id), str(their_world.run.session_id)),
    ]:
        content = member.get(reverse(name)).content.decode()
        assert mine in content, name
        assert theirs not in content, name


def test_navigation_links_every_built_section(member: Client, world: World) -> None:
    content = member.get(reverse("console:home")).content.decode()
    for name in ("agents", "tasks", "runs", "sessions", "credentials", "sources", "entities"):
        assert f'href="{reverse(f"console:{name}")}"' in content


def test_filter_selects_keep_the_chosen_values(org, owner):
    from django.test import Client

    from tests.api.factories import make_agent

    agent = make_agent(org, "Chosen agent")
    client = Client()
    client.force_login(owner)
    html = client.get(f"/tasks/?status=live&agent={agent.id}").content.decode()
    assert 'value="live" selected' in html
    assert f'value="{agent.id}" selected' in html
    assert "All agents" in html
