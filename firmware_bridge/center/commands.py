"""The center's side of the `MachineLink` port: commands and statuses, sent after the commit.

A use case may decide several things in one transaction ("unlock laser-1", "laser-1 is in use"). They
wait in an `OutboxLink` until the transaction commits, then go to the broker; if it rolls back they
are dropped with it, so a machine never hears about a decision the database does not hold.
"""

from __future__ import annotations

from typing import Any

from devices.ports import CommandOut
from devices.schemas import MachineRead
from firmware_bridge.center.metrics import COMMANDS_SENT
from firmware_bridge.client import MqttClient
from firmware_bridge.contract import messages, topics

_COMMANDS: dict[str, type[messages.CommandBase]] = {
    "unlock": messages.Unlock,
    "deny": messages.Deny,
    "warn": messages.Warn,
    "lock": messages.Lock,
}


class OutboxLink:
    """Collects what a transaction decided; `flush` publishes it, `discard` forgets it."""

    def __init__(self) -> None:
        self.commands: list[CommandOut] = []
        self.statuses: dict[str, MachineRead] = {}

    def send(self, command: CommandOut) -> None:
        self.commands.append(command)

    def publish_status(self, status: MachineRead) -> None:
        # Only the newest status of a machine matters; it is retained.
        self.statuses[status.machine] = status

    def discard(self) -> None:
        self.commands.clear()
        self.statuses.clear()

    def flush(self, client: MqttClient | None) -> None:
        """Publish every command (QoS 1, in order) and status (QoS 1, retained); then forget them."""
        if client is not None:
            for command in self.commands:
                client.publish(command_topic(command), encode_command(command), qos=1, retain=False)
                COMMANDS_SENT.labels(cmd=command.cmd).inc()
            for status in self.statuses.values():
                client.publish(
                    topics.machine_status(status.site, status.machine),
                    encode_status(status),
                    qos=1,
                    retain=True,
                )
        self.discard()


def command_topic(command: CommandOut) -> str:
    return topics.command(command.site, command.gateway, command.machine)


def encode_command(command: CommandOut) -> bytes:
    """The contract's command payload."""
    model = _COMMANDS[command.cmd]
    payload: dict[str, Any] = {
        "cmd_id": command.cmd_id,
        "ts": command.ts,
        "cmd": command.cmd,
        **command.fields,
    }
    return messages.encode(model.model_validate(payload, strict=False))


def encode_status(status: MachineRead) -> bytes:
    """The contract's machine status payload (the extras of MachineRead stay on the HTTP side)."""
    model = messages.MachineStatus.model_validate(
        {
            "machine": status.machine,
            "site": status.site,
            "state": status.state.value,
            "activity": status.activity.value,
            "online": status.online,
            "session_id": status.session_id,
            "member": status.member,
            "booking_id": status.booking_id,
            "since": status.since,
            "deadline": status.deadline,
            "rev": status.rev,
            "ts": status.ts,
        },
        strict=False,
    )
    return messages.encode(model)
