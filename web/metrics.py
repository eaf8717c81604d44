"""/metrics: this process's counters, plus gauges of the center's state read from the database.

HTTP requests are counted by method, route template (`/api/v1/bookings/{booking_id}`, never the
concrete path) and status code; scheduled jobs by job and outcome. deploy/grafana/ and
deploy/prometheus/alerts.yml query these names; tests/bridge/test_observability.py keeps them honest.
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.engine import Engine
from starlette.requests import Request
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from booking import notifications
from devices.models import Alert, Machine, UsageSession

__all__ = ["CONTENT_TYPE_LATEST", "JOB_DURATION", "JOB_RUNS", "MetricsMiddleware", "render_metrics"]

HTTP_REQUESTS = Counter(
    "fablab_http_requests_total",
    "HTTP requests answered, by method, route template and status code",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "fablab_http_request_duration_seconds",
    "From a request's arrival to the end of its response, by method and route template",
    ["method", "route"],
    buckets=(0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
JOB_RUNS = Counter(
    "fablab_job_runs_total", "Scheduled job runs, by job and outcome (ok, failed)", ["job", "outcome"]
)
DELIVERIES = Counter(
    "fablab_deliveries_total",
    "Outbox messages handed over (sent), retried after a failure (retry) or given up (failed), by channel",
    ["channel", "result"],
)
JOB_DURATION = Histogram(
    "fablab_job_duration_seconds",
    "How long a scheduled job's run took, by job",
    ["job"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)
WRITE_BATCH_SECONDS = Histogram(
    "fablab_write_batch_seconds",
    "SQLite: how long a batch of bookings held the database's write lock, from taking it to its COMMIT",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)
WRITE_BATCH_BOOKINGS = Histogram(
    "fablab_write_batch_bookings",
    "SQLite: how many bookings a batch committed together (or failed together)",
    buckets=(1, 2, 4, 8, 16, 32, 64),
)
# The outbox's channels: each has its backlog series, at 0 when nothing waits.
CHANNELS = ("email", "webhook")
# Every channel's outcomes are exposed from the start, at 0, so that a rate over them is defined.
for _channel in CHANNELS:
    for _result in ("sent", "retry", "failed"):
        DELIVERIES.labels(channel=_channel, result=_result)
# The label of a request no route matched (a scanner's random paths must not each become a series).
UNMATCHED = "unmatched"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class MetricsMiddleware:
    """Counts and times every HTTP request by its route template; pure ASGI, so streaming is untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # an exception that escapes before a response started becomes a 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route: BaseRoute | None = scope.get("route")
            template = getattr(route, "path", None) or UNMATCHED
            count, latency = _series(scope["method"], template, status)
            count.inc()
            latency.observe(time.perf_counter() - started)


@functools.lru_cache(maxsize=4096)
def _series(method: str, template: str, status: int) -> tuple[Any, Any]:
    """The request's counter and latency series (prometheus' `labels` checks and locks each time: a
    fifth of this layer's cost per request). Routes, methods and statuses are few."""
    method = method if method in _METHODS else "OTHER"
    return (
        HTTP_REQUESTS.labels(method=method, route=template, status=str(status)),
        HTTP_LATENCY.labels(method=method, route=template),
    )


def _wall_clock() -> datetime:
    return datetime.now(UTC)


class _CenterCollector(Collector):
    """Machines by state, open alerts by kind, active sessions: read at scrape time, so every web
    worker reports the same truth."""

    def __init__(self) -> None:
        self.engine: Engine | None = None
        self.clock: Callable[[], datetime] = _wall_clock

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
        waiting = GaugeMetricFamily(
            "fablab_notifications_waiting",
            "Outbox messages waiting to be sent, by channel (email, webhook)",
            labels=["channel"],
        )
        oldest = GaugeMetricFamily(
            "fablab_notifications_oldest_waiting_seconds",
            "How long the oldest waiting outbox message has waited, by channel (0: none waits)",
            labels=["channel"],
        )
        machine = sa.inspect(Machine).local_table
        alert = sa.inspect(Alert).local_table
        usage = sa.inspect(UsageSession).local_table
        backlog = dict.fromkeys(CHANNELS, (0, 0.0))
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
                now = self.clock()
                for channel, (count, since) in notifications.backlog(connection).items():
                    age = max((now - since).total_seconds(), 0.0) if since is not None else 0.0
                    backlog[channel] = (count, age)
        except sa.exc.SQLAlchemyError:
            return
        for channel, (count, age) in sorted(backlog.items()):
            waiting.add_metric([channel], count)
            oldest.add_metric([channel], age)
        yield machines
        yield alerts
        yield sessions
        yield waiting
        yield oldest


_collector = _CenterCollector()
REGISTRY.register(_collector)


def render_metrics(engine: Engine, clock: Callable[[], datetime] | None = None) -> bytes:
    """The Prometheus text exposition of this process (ages measured by the app's clock)."""
    _collector.engine = engine
    _collector.clock = clock or _wall_clock
    return generate_latest(REGISTRY)


def metrics_allowed(request: Request, token: str) -> bool:
    """Whether this request may read /metrics: from a loopback address (Prometheus on the same
    machine), or with the operator's bearer token (a Prometheus elsewhere)."""
    scheme, _, supplied = request.headers.get("authorization", "").partition(" ")
    if token and scheme.lower() == "bearer" and hmac.compare_digest(supplied.strip(), token):
        return True
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
