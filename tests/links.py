"""A stand-in for the bridge's link to the machines: it only remembers what it was asked to send."""

from __future__ import annotations

from devices.ports import CommandOut
from devices.schemas import MachineRead


class RecordingLink:
    """Implements `devices.ports.MachineLink` by keeping every command and status, in order."""

    def __init__(self) -> None:
        self.commands: list[CommandOut] = []
        self.statuses: list[MachineRead] = []

    def send(self, command: CommandOut) -> None:
        self.commands.append(command)

    def publish_status(self, status: MachineRead) -> None:
        self.statuses.append(status)
