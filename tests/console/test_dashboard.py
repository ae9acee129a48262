"""The dashboard: queue figures, runs over time stacked by status, success rate per task and
recent failures, all from the member's organization only."""

from __future__ import annotations

from datetime import timedelta

from django.test import Client
from django.urls import reverse
from django.utils import timezone

from console import charts
from tasks import selectors
from tasks.models import TaskRun
from tasks.runs import run_create
from tests.console.conftest import World


def _runs(world: World, statuses: list[str], *, hours_ago: int = 0) -> list[TaskRun]:
    made = []
    for status in statuses:
        run = run_create(
            organization=world.organization,
            task_id=world.task.id,
            input={"card_number": "4111222233334444"},
            credential_id=world.credential.id,
        )
        result = {
            "completed": TaskRun.Result.SUCCESS,
            "failed": TaskRun.Result.FAILURE,
        }.get(status)
        errors = (
            [{"type": "agent", "code": "login_failed", "message": "The password was refused."}]
            if status == "failed"
            else []
        )
        TaskRun.objects.filter(pk=run.pk).update(
            status=status,
            result=result,
            errors=errors,
            created_at=timezone.now() - timedelta(hours=hours_ago),
        )
        made.append(run)
    return made


def test_run_volume_buckets_by_hour_and_status(world: World, their_world: World) -> None:
    # The world's own run is queued now; add two completed and one failed three hours ago.
    _runs(world, ["completed", "completed", "failed"], hours_ago=3)
    _runs(their_world, ["failed"] * 5, hours_ago=3)
    now = timezone.now()
    until = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    volume = selectors.run_volume(
        organization=world.organization, since=until - timedelta(hours=24), until=until, unit="hour"
    )
    assert len(volume.buckets) == 24
    three_ago = (now - timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    assert volume.counts[three_ago] == {"completed": 2, "failed": 1}
    assert volume.counts[volume.buckets[-1]] == {"queued": 1}
    assert sum(sum(c.values()) for c in volume.counts.values()) == 4


def test_success_rates_and_queue_depth(world: World) -> None:
    _runs(world, ["completed", "completed", "completed", "failed", "interaction_required"])
    rates = selectors.task_success_rates(
        organization=world.organization, since=timezone.now() - timedelta(days=1)
    )
    assert [(r.name, r.succeeded, r.finished) for r in rates] == [(world.task.name, 3, 4)]
    assert rates[0].rate == 0.75
    queue = selectors.run_queue_depth(organization=world.organization)
    assert (queue.queued, queue.waiting_for_interaction, queue.running) == (1, 1, 0)
    assert queue.oldest_queued_at == world.run.created_at


def test_stacked_bars_scale_to_the_busiest_bucket(world: World) -> None:
    _runs(world, ["completed"] * 3 + ["failed"], hours_ago=2)
    until = timezone.now().replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    volume = selectors.run_volume(
        organization=world.organization, since=until - timedelta(hours=24), until=until, unit="hour"
    )
    chart = charts.stacked_bars(volume, unit="hour")
    assert chart.total == 5
    busiest = max(chart.bars, key=lambda bar: bar.total)
    assert [s.status for s in busiest.segments] == ["completed", "failed"]
    # 4 runs on a 0-5 axis: the stack is 4/5 of the plot height.
    assert round(sum(s.height for s in busiest.segments), 1) == round(charts.PLOT_HEIGHT * 0.8, 1)
    assert "3 completed, 1 failed" in busiest.title
    assert [t.value for t in chart.ticks] == [0, 5]
    assert [item.status for item in chart.legend] == ["completed", "failed", "queued"]
    assert charts.nice_ceiling(7) == 10
    assert charts.nice_ceiling(11) == 20


def test_dashboard_page_draws_the_charts(member: Client, world: World, their_world: World) -> None:
    _runs(world, ["completed", "failed"], hours_ago=1)
    _runs(their_world, ["failed"], hours_ago=1)
    their_world.task.name = "Their secret task"
    their_world.task.save()
    response = member.get(reverse("console:home"))
    content = response.content.decode()
    assert response.status_code == 200
    assert "<svg" in content
    assert 'role="img"' in content
    assert "Runs over time" in content
    assert "Success rate per task" in content
    assert "agent/login_failed" in content
    assert "Their secret task" not in content
    assert their_world.run.id not in content
    assert response.context["queue"].queued == 1
    assert response.context["volume"].total == 3


def test_dashboard_range_switch_is_a_partial_with_htmx(member: Client, world: World) -> None:
    url = reverse("console:home") + "?range=24h"
    full = member.get(url)
    part = member.get(url, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="charts")
    assert full.status_code == part.status_code == 200
    assert b"<html" in full.content
    assert b"<html" not in part.content
    assert b'id="charts"' in part.content
    assert b"Recent failures" not in part.content
    assert part.content.decode().count("<g><title>") == 24
    assert len(member.get(reverse("console:home") + "?range=30d").context["volume"].bars) == 30
    # An unknown range falls back to the default instead of failing.
    assert member.get(reverse("console:home") + "?range=1y").context["range"] == "7d"


def test_dashboard_queries_do_not_grow_with_runs(
    member: Client, world: World, django_assert_max_num_queries
) -> None:
    _runs(world, ["completed", "failed"], hours_ago=2)
    with django_assert_max_num_queries(30) as few:
        member.get(reverse("console:home"))
    _runs(world, ["completed", "failed", "canceled", "interaction_required"] * 10, hours_ago=30)
    with django_assert_max_num_queries(len(few.captured_queries)):
        member.get(reverse("console:home"))
