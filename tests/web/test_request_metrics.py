"""Requests counted and timed by route template, method and status (web/metrics.py), each one once."""

from __future__ import annotations

from fastapi.testclient import TestClient
from prometheus_client import REGISTRY


def _count(method: str, route: str, status: str) -> float:
    labels = {"method": method, "route": route, "status": status}
    return REGISTRY.get_sample_value("fablab_http_requests_total", labels) or 0.0


def _timed(method: str, route: str) -> float:
    labels = {"method": method, "route": route}
    return REGISTRY.get_sample_value("fablab_http_request_duration_seconds_count", labels) or 0.0


def test_each_request_is_counted_and_timed_once_in_its_series(client: TestClient) -> None:
    before = (_count("GET", "/healthz", "200"), _timed("GET", "/healthz"), _count("GET", "/readyz", "200"))
    for _ in range(3):
        assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200

    after = (_count("GET", "/healthz", "200"), _timed("GET", "/healthz"), _count("GET", "/readyz", "200"))
    assert [b - a for a, b in zip(before, after, strict=True)] == [3, 3, 1]


def test_a_method_nobody_serves_is_counted_as_other(client: TestClient) -> None:
    # A state-changing method without the session's CSRF token is refused before any route.
    before = _count("OTHER", "unmatched", "403")
    statuses = [client.request(method, "/healthz").status_code for method in ("BREW", "BREW", "PROPFIND")]

    assert statuses == [403, 403, 403]
    assert _count("OTHER", "unmatched", "403") - before == 3
    assert _count("BREW", "unmatched", "403") == 0
