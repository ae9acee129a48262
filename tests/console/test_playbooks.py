"""The task page lists the learned playbooks; the console's reset discards them."""

from __future__ import annotations

from typing import Any

from django.test import Client
from django.urls import reverse

from tasks.models import Playbook
from tasks.services import playbook_record
from tests.console.conftest import World

STEPS: list[dict[str, Any]] = [
    {"tool": "goto", "value": "{{source.url}}", "optional": False},
    {"tool": "output", "fields": {}},
]


def test_task_page_lists_playbooks_and_reset_discards_them(member: Client, world: World) -> None:
    detail_url = reverse("console:tasks_detail", args=[world.task.id])
    assert "No playbook yet" in member.get(detail_url).content.decode()

    playbook_record(run=world.run, steps=STEPS)
    playbook_record(run=world.run, steps=[STEPS[0], *STEPS], healed_from_version=1)
    page = member.get(detail_url).content.decode()
    assert f"v2 on {world.source.name} (healed from v1)" in page
    assert f"v1 on {world.source.name}" in page

    member.post(reverse("console:tasks_reset", args=[world.task.id]), {"confirm": "yes"})
    assert not Playbook.objects.filter(task=world.task).exists()
    assert "No playbook yet" in member.get(detail_url).content.decode()
