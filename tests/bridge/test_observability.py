"""Every metric and label that the Grafana dashboard and the Prometheus alert rules query exists in /metrics.

A real center is exercised first (a card tap, a session, a fault and a malformed message through the
bridge on the real broker; HTTP requests; scheduled job runs), so that each labelled series exists;
then /metrics is scraped and every `fablab_*` name, every label in a selector and every label of a
`by (…)` clause in deploy/grafana/*.json and deploy/prometheus/alerts.yml must be found in it.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from sqlmodel import Session

from booking.messages import message
from booking.notifications import queue_email
from firmware_bridge.center.commands import OutboxLink
from tests.bridge.conftest import Lab
from tests.brokers import send, unique, wait_until
from tests.factories import make_member
from web.app import create_app
from web.metrics import render_metrics
from web.scheduler import Jobs
from web.settings import Settings

pytestmark = [pytest.mark.mqtt, pytest.mark.slow]
DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
METRIC = re.compile(r"\b(fablab_[a-zA-Z0-9_]+)(\{[^}]*\})?")
SELECTOR_LABEL = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")


def dashboard_queries() -> list[str]:
    """Every PromQL expression of every panel of the shipped dashboards."""

    def walk(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            if isinstance(node.get("expr"), str):
                yield node["expr"]
            for value in node.values():
                yield from walk(value)
        elif isinstance(node, list):
            for value in node:
                yield from walk(value)

    dashboards = sorted((DEPLOY / "grafana").glob("*.json"))
    assert dashboards, "no dashboard in deploy/grafana/"
    return [expr for path in dashboards for expr in walk(json.loads(path.read_text()))]


def alert_queries() -> list[str]:
    """Every rule's `expr:` in the alert rules (one line each there)."""
    text = (DEPLOY / "prometheus" / "alerts.yml").read_text()
    queries = re.findall(r"^\s*expr:\s*(.+?)\s*$", text, flags=re.MULTILINE)
    assert len(queries) == text.count("- alert:"), "an alert rule's expr is not on one line"
    return queries


def wanted(expressions: list[str]) -> dict[str, set[str]]:
    """Metric name → the label names the expressions select on or group by."""
    needs: dict[str, set[str]] = {}
    for expr in expressions:
        grouped = {
            label.strip() for clause in GROUPING.findall(expr) for label in clause.split(",") if label.strip()
        }
        for name, selector in METRIC.findall(expr):
            labels = needs.setdefault(name, set())
            labels.update(SELECTOR_LABEL.findall(selector))
            labels.update(grouped - ({"le"} if not name.endswith("_bucket") else set()))
    return needs


def exposed(text: str) -> dict[str, set[str]]:
    """Sample name → the label names it carries, from a Prometheus text exposition."""
    found: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, set()).update(sample.labels)
    return found


def _value(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _exercise_the_bridge(lab: Lab) -> None:
    """A tap and its session, a fault, a malformed message: the bridge's labelled series come to be."""
    lab.event("access.requested", {"request_id": "tap-obs", "card_uid": lab.card})
    session_id = lab.wait_command(lambda c: c.get("request_id") == "tap-obs")["session_id"]
    lab.event("session.started", {"session_id": session_id, "card_uid": lab.card})
    lab.event("fault.raised", {"code": "E42", "message": "laser tube too hot"})
    dropped = _value("fablab_mqtt_messages_dropped_total", {"reason": "malformed_json"})
    send(lab.edge, lab.topic("event"), b"{this is not json")
    wait_until(
        lambda: _value("fablab_mqtt_messages_dropped_total", {"reason": "malformed_json"}) > dropped,
        what="the malformed message counted",
    )
    wait_until(
        lambda: (
            lab.scalar(
                "SELECT count(*) FROM alert WHERE machine_id = :m AND resolved_at IS NULL", m=lab.machine
            )
            > 0
        ),
        what="the fault's alert",
    )


def _exercise_the_jobs(lab: Lab, settings: Settings) -> None:
    jobs = Jobs(lab.engine, settings, clock=lab.clock, send=OutboxLink.discard)
    jobs.run("offline-check", lambda now: None)

    def broken(now: object) -> None:
        raise RuntimeError("a job that fails")

    jobs.run("maintenance-check", broken)


@pytest.fixture
def scraped(lab: Lab) -> dict[str, set[str]]:
    _exercise_the_bridge(lab)
    settings = Settings(
        environment="test",
        secret_key="observability-secret-key-of-enough-length-0123",
        database_url=lab.engine.url.render_as_string(hide_password=False),
        scheduler_enabled=False,
    )
    _exercise_the_jobs(lab, settings)
    app = create_app(settings, engine=lab.engine, clock=lambda: lab.clock() + timedelta(0))
    with TestClient(app, raise_server_exceptions=False, client=("127.0.0.1", 50000)) as client:
        assert client.get("/healthz").status_code == 200
        assert client.get(f"/{unique('no-such-page')}").status_code == 404
        refused = client.post("/api/v1/auth/token", data={"username": "nobody@example.org", "password": "x"})
        assert refused.status_code == 401
        metrics = client.get("/metrics")
        assert metrics.status_code == 200
        return exposed(metrics.text)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
class TestDashboardsAndAlerts:
    def test_every_queried_metric_and_label_is_exposed(self, scraped: dict[str, set[str]]) -> None:
        needs = wanted(dashboard_queries() + alert_queries())
        assert needs, "no fablab_* metric found in the dashboards and alert rules"
        missing = sorted(name for name in needs if name not in scraped)
        assert missing == [], f"queried but not in /metrics: {missing}"
        lacking = {
            name: sorted(labels - scraped[name]) for name, labels in needs.items() if labels - scraped[name]
        }
        assert lacking == {}, f"labels queried but not exposed: {lacking}"

    def test_http_requests_are_counted_by_route_template_not_path(self, scraped: dict[str, set[str]]) -> None:
        assert {"method", "route", "status"} <= scraped["fablab_http_requests_total"]
        assert (
            _value("fablab_http_requests_total", {"method": "GET", "route": "/healthz", "status": "200"}) >= 1
        )
        assert (
            _value("fablab_http_requests_total", {"method": "GET", "route": "unmatched", "status": "404"})
            >= 1
        )
        assert (
            _value(
                "fablab_http_requests_total",
                {"method": "POST", "route": "/api/v1/auth/token", "status": "401"},
            )
            >= 1
        )

    def test_job_runs_are_counted_by_outcome(self, scraped: dict[str, set[str]]) -> None:
        assert _value("fablab_job_runs_total", {"job": "offline-check", "outcome": "ok"}) >= 1
        assert _value("fablab_job_runs_total", {"job": "maintenance-check", "outcome": "failed"}) >= 1


class TestAlertRules:
    def test_promtool_accepts_the_alert_rules(self) -> None:
        promtool = shutil.which("promtool")
        if promtool is None:
            pytest.skip("promtool is not installed (Debian's prometheus package; `make system-packages`)")
        checked = subprocess.run(
            [promtool, "check", "rules", str(DEPLOY / "prometheus" / "alerts.yml")],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert "SUCCESS" in checked.stdout

    def test_the_dashboard_shows_the_notification_backlog(self) -> None:
        dashboard = json.loads((DEPLOY / "grafana" / "fablab-hub.json").read_text())
        rows = [panel["title"] for panel in dashboard["panels"] if panel["type"] == "row"]
        assert "Notification backlog" in rows
        assert [p["title"] for p in dashboard["panels"] if p["type"] == "text"] == []  # no placeholder left
        queried = " ".join(dashboard_queries())
        for name in ("fablab_notifications_waiting", "fablab_notifications_oldest_waiting_seconds"):
            assert name in queried


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_notification_backlog_is_counted_by_channel_with_its_oldest_age(lab: Lab) -> None:
    """Two more e-mails wait, the oldest for a day by the center's clock; no webhook call waits."""

    def backlog() -> dict[tuple[str, str | None], float]:
        text = render_metrics(lab.engine, lab.clock).decode()
        return {
            (sample.name, sample.labels.get("channel")): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name.startswith("fablab_notifications_")
        }

    before = backlog()
    with Session(lab.engine) as session:
        member = make_member(session)
        said = message("Reminder: your booking of {resource} is {slot}", resource="Laser", slot="")
        queue_email(session, "reminder", said, lab.clock() - timedelta(days=1), member_id=member.id)
        queue_email(session, "reminder", said, lab.clock() - timedelta(minutes=2), member_id=member.id)
        session.commit()
    after = backlog()
    waiting = ("fablab_notifications_waiting", "email")
    assert after[waiting] == before.get(waiting, 0) + 2
    assert after[("fablab_notifications_oldest_waiting_seconds", "email")] == 86400
    assert after[("fablab_notifications_waiting", "webhook")] == 0
    assert after[("fablab_notifications_oldest_waiting_seconds", "webhook")] == 0
