"""Charts drawn on the server as SVG: the geometry is computed here, the template writes the elements.

No chart library and no script: the pages run under a strict Content-Security-Policy and on kiosks
with no internet, and an SVG of a few dozen rectangles is small, sharp at any size and printable.
Colours come from classes in app.css (an inline style would be refused by the policy).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from devices.reports import DayUsage

# Round maxima for the hours axis, so its ticks fall on readable values.
_NICE_HOURS = (1, 2, 4, 6, 8, 10, 12, 16, 20, 24)


@dataclass(frozen=True, slots=True)
class Bar:
    """A rectangle in the chart's coordinates, with the value it stands for."""

    x: float
    y: float
    width: float
    height: float
    value: float


@dataclass(frozen=True, slots=True)
class DayColumn:
    """One day: its booked and used bars, and its axis label when it gets one."""

    day: date
    booked: Bar
    used: Bar
    label_x: float
    label: str | None


@dataclass(frozen=True, slots=True)
class Tick:
    """A horizontal grid line of the hours axis."""

    y: float
    hours: float


@dataclass(frozen=True, slots=True)
class UsageChart:
    """Booked against really used hours per day, ready to be written as SVG."""

    width: int
    height: int
    left: float
    right: float
    top: float
    bottom: float
    columns: list[DayColumn]
    ticks: list[Tick]
    max_hours: float
    booked_total: float
    used_total: float

    @property
    def used_share(self) -> float | None:
        """Used hours over booked hours; None when nothing was booked."""
        return self.used_total / self.booked_total if self.booked_total else None


def nice_max(hours: float) -> float:
    """The smallest round axis maximum that holds `hours` (at least 1)."""
    for candidate in _NICE_HOURS:
        if hours <= candidate:
            return float(candidate)
    return float(math.ceil(hours / 8) * 8)


def usage_chart(days: Sequence[DayUsage], *, width: int = 760, height: int = 260) -> UsageChart:
    """Two bars per day (booked, used) on a shared hours axis; every day labelled up to 16 days."""
    left, right, top, bottom = 40.0, width - 8.0, 12.0, height - 28.0
    peak = max((max(d.booked_h, d.used_h) for d in days), default=0.0)
    max_hours = nice_max(peak)
    plot_h = bottom - top
    slot = (right - left) / max(1, len(days))
    bar_w = max(2.0, slot * 0.36)
    # Label every day when they fit, else every few, always keeping the last (today).
    every = 1 if len(days) <= 16 else math.ceil(len(days) / 10)

    def bar(x: float, value: float) -> Bar:
        h = plot_h * min(value, max_hours) / max_hours
        return Bar(
            x=round(x, 1), y=round(bottom - h, 1), width=round(bar_w, 1), height=round(h, 1), value=value
        )

    columns = []
    for index, day in enumerate(days):
        x0 = left + index * slot + (slot - 2 * bar_w) / 2
        labelled = (len(days) - 1 - index) % every == 0
        columns.append(
            DayColumn(
                day=day.day,
                booked=bar(x0, day.booked_h),
                used=bar(x0 + bar_w, day.used_h),
                label_x=round(left + index * slot + slot / 2, 1),
                label=f"{day.day:%d/%m}" if labelled else None,
            )
        )
    ticks = [Tick(y=round(bottom - plot_h * i / 4, 1), hours=max_hours * i / 4) for i in range(5)]
    return UsageChart(
        width=width,
        height=height,
        left=left,
        right=right,
        top=top,
        bottom=bottom,
        columns=columns,
        ticks=ticks,
        max_hours=max_hours,
        booked_total=round(sum(d.booked_h for d in days), 2),
        used_total=round(sum(d.used_h for d in days), 2),
    )


@dataclass(frozen=True, slots=True)
class PairRow:
    """One row of a paired bar chart: a label and two bars (say booked and used, or seated and present)."""

    label: str
    first: Bar
    second: Bar
    y_label: float


@dataclass(frozen=True, slots=True)
class PairChart:
    width: int
    height: int
    left: float
    right: float
    rows: list[PairRow]
    max_value: float


def pair_chart(
    rows: Sequence[tuple[str, float, float]],
    *,
    width: int = 640,
    row_height: int = 34,
    label_width: int = 190,
) -> PairChart:
    """Horizontal paired bars, one row per label, both bars on the same scale (the larger value fills
    the width)."""
    top, bar = 8.0, (row_height - 10) / 2
    left, right = float(label_width), float(width - 70)
    largest = max([max(a, b) for _, a, b in rows] or [0.0]) or 1.0
    scale = (right - left) / largest
    drawn = []
    for index, (label, a, b) in enumerate(rows):
        y = top + index * row_height
        drawn.append(
            PairRow(
                label=label,
                first=Bar(left, y, max(a * scale, 0.0), bar, a),
                second=Bar(left, y + bar + 1, max(b * scale, 0.0), bar, b),
                y_label=y + bar + 4,
            )
        )
    return PairChart(
        width=width,
        height=int(top * 2 + row_height * max(len(rows), 1)),
        left=left,
        right=right,
        rows=drawn,
        max_value=largest,
    )
