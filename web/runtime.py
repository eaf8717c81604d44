"""The machines' side of a running center: the MQTT bridge (or a publisher) and the scheduler."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.engine import Engine

from firmware_bridge.center.bridge import CenterBridge, NoBridge, Publisher
from firmware_bridge.center.commands import OutboxLink
from web.db import urgent
from web.scheduler import Jobs
from web.settings import Settings

log = logging.getLogger(__name__)


class MachineRuntime:
    """Starts and stops what links the center to its machines, as the settings ask."""

    def __init__(self, engine: Engine, settings: Settings, clock: Callable[[], datetime]) -> None:
        self.bridge: CenterBridge | None = None
        self.publisher: Publisher | None = None
        if settings.mqtt_url and settings.bridge_enabled:
            self.bridge = CenterBridge(
                engine,
                settings.broker_url,
                client_id=settings.bridge_client_id,
                shared_group=settings.bridge_shared_group or None,
                protocol=settings.mqtt_protocol,
                sites=[site.strip() for site in settings.bridge_sites.split(",") if site.strip()],
                clock=clock,
                urgent_engine=urgent(engine),
                readings_url=settings.bridge_readings_url
                or (settings.broker_url if settings.broker_url.startswith("mqtt://") else None),
                gateway_rate_per_s=settings.bridge_gateway_rate,
                gateway_burst=settings.bridge_gateway_burst,
            )
        elif settings.mqtt_url:
            self.publisher = Publisher(settings.broker_url, protocol=settings.mqtt_protocol)
        self._fallback = NoBridge()
        self.jobs = (
            Jobs(engine, settings, clock=clock, send=self.send) if settings.scheduler_enabled else None
        )

    def send(self, link: OutboxLink) -> None:
        """Publish what a transaction decided, after its commit."""
        if self.bridge is not None:
            self.bridge.send(link)
        elif self.publisher is not None:
            self.publisher.send(link)
        else:
            self._fallback.send(link)

    def broker_state(self) -> str:
        client = self.bridge.client if self.bridge else self.publisher.client if self.publisher else None
        if client is None:
            return "not_configured"
        return "connected" if client.connected.is_set() else "disconnected"

    def start(self) -> None:
        if self.bridge is not None:
            self.bridge.start()
        if self.publisher is not None:
            self.publisher.start()
        if self.jobs is not None:
            self.jobs.start()

    def stop(self) -> None:
        if self.jobs is not None:
            self.jobs.stop()
        if self.bridge is not None:
            self.bridge.stop()
        if self.publisher is not None:
            self.publisher.stop()
