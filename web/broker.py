"""An embedded MQTT broker (amqtt) for `fablab demo` and `fablab serve` when no FABLAB_MQTT_URL is set.

It listens on 127.0.0.1 only and speaks MQTT 3.1.1, which is what amqtt offers; production uses
Mosquitto (see deploy/mosquitto/), where clients speak MQTT 5.

Nobody connects anonymously: each of the process's own clients (the center's bridge, the demo's
gateways and their simulated devices) gets a username and a random password made at start-up, which
live only in this process's memory. Another program on the machine cannot join or spoof a machine.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from amqtt.broker import Broker
from amqtt.plugins.base import BaseAuthPlugin
from amqtt.session import Session

log = logging.getLogger(__name__)


class GeneratedCredentials(BaseAuthPlugin):  # type: ignore[misc]  # amqtt is untyped
    """amqtt authentication against the credentials the embedded broker made; nothing else gets in."""

    @dataclass
    class Config:
        users: dict[str, str] = field(default_factory=dict)

    async def authenticate(self, *, session: Session) -> bool:
        users: dict[str, str] = self.config.users
        expected = users.get(session.username or "")
        given = session.password or ""
        if isinstance(given, bytes):
            given = given.decode("utf-8", "replace")
        if expected is None or not hmac.compare_digest(expected.encode(), given.encode()):
            log.warning("embedded broker refused a client (username %r)", session.username)
            return False
        return True


class EmbeddedBroker:
    """amqtt on its own event loop in a daemon thread, for the users named at construction."""

    def __init__(
        self, port: int, host: str = "127.0.0.1", users: tuple[str, ...] = ("fablab-center",)
    ) -> None:
        self.host, self.port = host, port
        self._passwords = {user: secrets.token_urlsafe(24) for user in users}
        self._loop = asyncio.new_event_loop()
        self._broker: Broker | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="embedded-broker", daemon=True)

    def url_for(self, user: str) -> str:
        """The broker URL with the generated credentials of `user` (one of the users it was made for)."""
        return f"mqtt://{quote(user, safe='')}:{self._passwords[user]}@{self.host}:{self.port}"

    def start(self, timeout: float = 15.0) -> None:
        """Start listening; raises if the port cannot be bound."""
        config: dict[str, Any] = {
            "listeners": {
                "default": {"type": "tcp", "bind": f"{self.host}:{self.port}", "max_connections": 1000}
            },
            "plugins": {f"{__name__}.GeneratedCredentials": {"users": dict(self._passwords)}},
        }
        self._thread.start()

        async def _start() -> None:
            self._broker = Broker(config, loop=self._loop)
            await self._broker.start()

        asyncio.run_coroutine_threadsafe(_start(), self._loop).result(timeout)
        log.info("embedded MQTT broker listening on %s:%d (generated credentials only)", self.host, self.port)

    def stop(self, timeout: float = 10.0) -> None:
        """Shut the broker down and end its thread."""
        if self._broker is not None:
            try:
                asyncio.run_coroutine_threadsafe(self._broker.shutdown(), self._loop).result(timeout)
            except Exception:  # shutting down: nothing more to do about it than say so
                log.warning("the embedded broker did not shut down cleanly", exc_info=True)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self._loop.close()
