"""/metrics: this process's counters, plus gauges of the center's state read from the database."""

from __future__ import annotations

from collections.abc import Iterator

import sqlalchemy as sa
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.engine import Engine

from devices.models import Alert, Machine, UsageSession

__all__ = ["CONTENT_TYPE_LATEST", "render_metrics"]


class _CenterCollector(Collector):
    """Machines by state, open alerts by kind, active sessions: read at scrape time, so every web
    worker reports the same truth."""

    def __init__(self) -> None:
        self.engine: Engine | None = None

    def collect(self) -> Iterator[GaugeMetricFamily]:
        if self.engine is None:
            return
        machines = GaugeMetricFamily(
            "fablab_machines", "Machines by site and live state", labels=["site", "state"]
        )
        alerts = GaugeMetricFamily(
            "fablab_alerts_open", "Open alerts by site and kind", labels=["site", "kind"]
        )
        sessions = GaugeMetricFamily(
            "fablab_sessions_active", "Machine usage sessions under way", labels=["site"]
        )
        machine = sa.inspect(Machine).local_table
        alert = sa.inspect(Alert).local_table
        usage = sa.inspect(UsageSession).local_table
        try:
            with self.engine.connect() as connection:
                for site, state, count in connection.execute(
                    sa.select(machine.c.site_id, machine.c.state, sa.func.count()).group_by(
                        machine.c.site_id, machine.c.state
                    )
                ):
                    machines.add_metric([site, str(state)], count)
                for site, kind, count in connection.execute(
                    sa.select(alert.c.site_id, alert.c.kind, sa.func.count())
                    .where(alert.c.resolved_at.is_(None))
                    .group_by(alert.c.site_id, alert.c.kind)
                ):
                    alerts.add_metric([site, str(kind)], count)
                for site, count in connection.execute(
                    sa.select(machine.c.site_id, sa.func.count())
                    .select_from(usage.join(machine, usage.c.machine_id == machine.c.id))
                    .where(usage.c.ended_at.is_(None))
                    .group_by(machine.c.site_id)
                ):
                    sessions.add_metric([site], count)
        except sa.exc.SQLAlchemyError:
            return
        yield machines
        yield alerts
        yield sessions


_collector = _CenterCollector()
REGISTRY.register(_collector)


def render_metrics(engine: Engine) -> bytes:
    """The Prometheus text exposition of this process."""
    _collector.engine = engine
    return generate_latest(REGISTRY)
