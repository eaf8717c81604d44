"""The server-drawn usage chart's geometry: pure, no database."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from devices.reports import DayUsage
from web.pages.charts import nice_max, usage_chart


def _days(values: list[tuple[float, float]]) -> list[DayUsage]:
    first = date(2027, 3, 1)
    return [DayUsage(first + timedelta(days=i), booked, used) for i, (booked, used) in enumerate(values)]


class TestNiceMax:
    @pytest.mark.parametrize(
        ("hours", "expected"),
        [
            (0.0, 1.0),
            (0.4, 1.0),
            (1.0, 1.0),
            (1.5, 2.0),
            (7.2, 8.0),
            (13.0, 16.0),
            (24.0, 24.0),
            (30.0, 32.0),
        ],
    )
    def test_rounds_up_to_a_readable_maximum(self, hours: float, expected: float) -> None:
        assert nice_max(hours) == expected


class TestUsageChart:
    def test_bars_stand_on_the_baseline_in_proportion(self) -> None:
        chart = usage_chart(_days([(8.0, 4.0), (0.0, 0.0)]))
        full = chart.bottom - chart.top
        first = chart.columns[0]
        assert chart.max_hours == 8.0
        assert first.booked.height == pytest.approx(full)
        assert first.used.height == pytest.approx(full / 2)
        assert first.used.y + first.used.height == pytest.approx(chart.bottom)
        assert first.used.x == pytest.approx(first.booked.x + first.booked.width)
        assert chart.columns[1].booked.height == 0

    def test_totals_and_the_share_really_used(self) -> None:
        chart = usage_chart(_days([(2.0, 1.5), (2.0, 0.5)]))
        assert (chart.booked_total, chart.used_total) == (4.0, 2.0)
        assert chart.used_share == 0.5

    def test_no_share_when_nothing_was_booked(self) -> None:
        assert usage_chart(_days([(0.0, 1.0)])).used_share is None

    def test_every_day_labelled_for_two_weeks(self) -> None:
        chart = usage_chart(_days([(1.0, 1.0)] * 14))
        assert [c.label for c in chart.columns][:2] == ["01/03", "02/03"]
        assert all(c.label for c in chart.columns)

    def test_a_month_is_labelled_every_few_days_ending_today(self) -> None:
        chart = usage_chart(_days([(1.0, 1.0)] * 30))
        labelled = [c.day for c in chart.columns if c.label]
        assert labelled[-1] == date(2027, 3, 30)
        assert 8 <= len(labelled) <= 10

    def test_the_axis_has_five_ticks_from_zero(self) -> None:
        chart = usage_chart(_days([(6.0, 1.0)]))
        assert [t.hours for t in chart.ticks] == [0.0, 1.5, 3.0, 4.5, 6.0]
        assert chart.ticks[0].y == chart.bottom
        assert chart.ticks[-1].y == chart.top
