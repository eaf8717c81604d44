"""What the machines' domain needs from the outside: a way to tell machines what to do.

The domain decides ("unlock laser-1 for 55 minutes"); the bridge implements this port and puts it on
the wire after the transaction that decided it has committed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from devices.schemas import MachineRead

CommandKind = Literal["unlock", "deny", "warn", "lock"]


@dataclass(frozen=True, slots=True)
class CommandOut:
    """One command for one machine, as the contract's command topic carries it."""

    cmd_id: str
    site: str
    gateway: str
    machine: str
    cmd: CommandKind
    ts: datetime
    fields: dict[str, Any] = field(default_factory=dict)


class MachineLink(Protocol):
    """Sends commands to machines and publishes their live status."""

    def send(self, command: CommandOut) -> None:
        """Queue a command for the machine's gateway."""

    def publish_status(self, status: MachineRead) -> None:
        """Queue the machine's new live status (retained)."""
