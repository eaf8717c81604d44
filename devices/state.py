"""The machine state machine: which of free, reserved, in_use, blocked, offline, fault a machine is in.

Pure: the facts come in, the state goes out. The order of precedence says what a member at the machine
most needs to know: a machine that is offline cannot be used whatever else holds; a fault outranks a
running session (the session is over in all but name); a running session outranks a block (the block
stops the next use, not this one); a block outranks a booking; a booking (reserved) outranks free.
"""

from __future__ import annotations

from dataclasses import dataclass

from devices.models import Activity, MachineState


@dataclass(frozen=True, slots=True)
class Facts:
    online: bool
    fault: bool
    in_session: bool
    blocked: bool
    reserved: bool


def derive_state(facts: Facts) -> MachineState:
    """The machine's state for these facts."""
    if not facts.online:
        return MachineState.offline
    if facts.fault:
        return MachineState.fault
    if facts.in_session:
        return MachineState.in_use
    if facts.blocked:
        return MachineState.blocked
    if facts.reserved:
        return MachineState.reserved
    return MachineState.free


def activity_from_power(
    power_w: float | None, busy_on_w: float | None, busy_off_w: float | None, previous: Activity
) -> Activity:
    """Busy above `busy_on_w`, idle below `busy_off_w`, unchanged in between (hysteresis)."""
    if power_w is None or busy_on_w is None or busy_off_w is None:
        return previous
    if power_w <= 0:
        return Activity.off
    if power_w >= busy_on_w:
        return Activity.busy
    if power_w <= busy_off_w:
        return Activity.idle
    return previous
