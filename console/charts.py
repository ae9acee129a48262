"""Dashboard charts as geometry for inline SVG: the server lays out the bars, the template
draws them. No chart library and no JavaScript, so a chart reads the same with scripts off
and each one comes with a data table for screen readers."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from tasks.models import TaskRun
from tasks.selectors import RunVolume, TaskSuccess

# Stacking order, bottom up, and colours: each has at least 3:1 contrast on white (WCAG
# non-text contrast), and the legend and table carry the same information in words.
STATUS_ORDER: tuple[str, ...] = (
    TaskRun.Status.COMPLETED,
    TaskRun.Status.FAILED,
    TaskRun.Status.CANCELED,
    TaskRun.Status.REVIEW_REQUIRED,
    TaskRun.Status.INTERACTION_REQUIRED,
    TaskRun.Status.RUNNING,
    TaskRun.Status.CANCELING,
    TaskRun.Status.QUEUED,
)
STATUS_COLOURS: dict[str, str] = {
    TaskRun.Status.COMPLETED: "#1a7f37",
    TaskRun.Status.FAILED: "#b42318",
    TaskRun.Status.CANCELED: "#6e7781",
    TaskRun.Status.REVIEW_REQUIRED: "#9a6700",
    TaskRun.Status.INTERACTION_REQUIRED: "#bc4c00",
    TaskRun.Status.RUNNING: "#3d3fc4",
    TaskRun.Status.CANCELING: "#8250df",
    TaskRun.Status.QUEUED: "#0969da",
}

WIDTH = 720
HEIGHT = 200
LEFT = 36  # room for the y-axis labels
BOTTOM = 24  # room for the x-axis labels
TOP = 8
PLOT_HEIGHT = HEIGHT - TOP - BOTTOM
PLOT_WIDTH = WIDTH - LEFT - 4
MAX_X_LABELS = 8


def nice_ceiling(value: int) -> int:
    """The smallest 1, 2 or 5 times a power of ten at or above ``value``: an axis top
    that reads well."""
    if value <= 1:
        return 1
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude


@dataclass(frozen=True)
class Segment:
    status: str
    label: str
    colour: str
    count: int
    y: float
    height: float


@dataclass(frozen=True)
class Bar:
    start: datetime
    label: str
    axis_label: str
    x: float
    width: float
    total: int
    segments: list[Segment]
    show_label: bool
    counts: dict[str, int]

    @property
    def title(self) -> str:
        parts = [f"{s.count} {s.label.lower()}" for s in self.segments]
        return f"{self.label}: " + (", ".join(parts) if parts else "no runs")

    @property
    def label_x(self) -> float:
        return self.x + self.width / 2


@dataclass(frozen=True)
class Tick:
    value: int
    y: float


@dataclass(frozen=True)
class LegendItem:
    status: str
    label: str
    colour: str
    total: int


@dataclass(frozen=True)
class StackedBars:
    bars: list[Bar]
    ticks: list[Tick]
    legend: list[LegendItem]
    total: int
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    baseline: float = TOP + PLOT_HEIGHT
    label_y: float = HEIGHT - 6

    @property
    def table(self) -> list[tuple[str, list[int], int]]:
        """(bucket, count per legend status, total) rows: the chart as a data table."""
        return [
            (bar.label, [bar.counts.get(item.status, 0) for item in self.legend], bar.total)
            for bar in self.bars
        ]


def _status_label(status: str) -> str:
    return TaskRun.Status(status).label.replace("_", " ").capitalize()


def stacked_bars(volume: RunVolume, *, unit: str) -> StackedBars:
    """Bars per bucket, stacked by status, scaled to the busiest bucket."""
    totals = [sum(volume.counts.get(bucket, {}).values()) for bucket in volume.buckets]
    top = nice_ceiling(max(totals, default=0))
    slot = PLOT_WIDTH / max(len(volume.buckets), 1)
    gap = min(slot * 0.2, 6)
    label_every = max(1, math.ceil(len(volume.buckets) / MAX_X_LABELS))
    axis_format = "%H:%M" if unit == "hour" else "%b %-d"
    bars = []
    for index, bucket in enumerate(volume.buckets):
        counts = volume.counts.get(bucket, {})
        y: float = TOP + PLOT_HEIGHT
        segments = []
        for status in STATUS_ORDER:
            count = counts.get(status, 0)
            if not count:
                continue
            height = PLOT_HEIGHT * count / top
            y -= height
            segments.append(
                Segment(
                    status=status,
                    label=_status_label(status),
                    colour=STATUS_COLOURS[status],
                    count=count,
                    y=round(y, 2),
                    height=round(height, 2),
                )
            )
        bars.append(
            Bar(
                start=bucket,
                label=bucket.strftime("%b %-d, %H:%M" if unit == "hour" else "%a %b %-d"),
                axis_label=bucket.strftime(axis_format),
                x=round(LEFT + index * slot + gap / 2, 2),
                width=round(slot - gap, 2),
                total=totals[index],
                segments=segments,
                show_label=index % label_every == 0,
                counts=counts,
            )
        )
    # Half-way only when it is a whole number of runs.
    values = [0, top // 2, top] if top % 2 == 0 else [0, top]
    ticks = [
        Tick(value=value, y=round(TOP + PLOT_HEIGHT - PLOT_HEIGHT * value / top, 2))
        for value in values
    ]
    legend = [
        LegendItem(
            status=status,
            label=_status_label(status),
            colour=STATUS_COLOURS[status],
            total=sum(volume.counts.get(b, {}).get(status, 0) for b in volume.buckets),
        )
        for status in STATUS_ORDER
    ]
    legend = [item for item in legend if item.total]
    return StackedBars(
        bars=bars,
        ticks=ticks,
        legend=legend,
        total=sum(totals),
    )


@dataclass(frozen=True)
class RateRow:
    task_id: str
    name: str
    succeeded: int
    finished: int
    percent: int
    y: float
    bar_width: float
    colour: str


@dataclass(frozen=True)
class RateBars:
    rows: list[RateRow]
    width: int
    height: int
    label_width: int
    bar_area: int
    row_height: int


RATE_ROW = 28
RATE_LABEL = 200
RATE_AREA = 440


def rate_bars(rates: list[TaskSuccess]) -> RateBars:
    """One horizontal bar per task: the share of its finished runs that succeeded."""
    rows = []
    for index, rate in enumerate(rates):
        percent = round(rate.rate * 100)
        colour = "#1a7f37" if percent >= 80 else "#9a6700" if percent >= 50 else "#b42318"
        rows.append(
            RateRow(
                task_id=rate.task_id,
                name=rate.name,
                succeeded=rate.succeeded,
                finished=rate.finished,
                percent=percent,
                y=index * RATE_ROW,
                bar_width=round(RATE_AREA * rate.rate, 2),
                colour=colour,
            )
        )
    return RateBars(
        rows=rows,
        width=RATE_LABEL + RATE_AREA + 80,
        height=max(len(rows), 1) * RATE_ROW,
        label_width=RATE_LABEL,
        bar_area=RATE_AREA,
        row_height=RATE_ROW,
    )
