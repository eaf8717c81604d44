"""The simulated fleet behind a gateway: for a generated lab, for `fablab demo`, or for a gateway file.

`demo_fleet` makes a gateway configuration and the matching `Fleet` from `(machine, kind)` pairs;
`fleet_for` finds the devices behind an existing configuration; `config_toml` writes a configuration
as the gateway file of CONTRACT §2 (what `fablab simulate --print-config` prints).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

from firmware_bridge.client import Protocol
from firmware_bridge.edge.config import GatewayConfig, MachineConfig
from firmware_bridge.sim.devices import DeviceSpec, Dialect, Kind
from firmware_bridge.sim.simulator import Fleet

_DIALECTS: dict[str, Dialect] = {"tasmota": "tasmota", "shelly": "shelly", "octoprint": "octoprint"}


def dialect_for(kind: str) -> tuple[Kind, Dialect]:
    """What a machine kind is simulated as: printers on OctoPrint, CNCs on Shelly, others Tasmota."""
    lowered = kind.lower()
    if "print" in lowered:
        return "printer", "octoprint"
    if any(word in lowered for word in ("cnc", "mill", "router")):
        return "cnc", "shelly"
    return "laser", "tasmota"


def source_for(site: str, machine: str, dialect: Dialect) -> str:
    """A native source name in the style of each dialect, unique per site and machine."""
    if dialect == "tasmota":
        return f"tasmota_{site}_{machine}".replace("-", "_")
    if dialect == "shelly":
        return f"shellyplusplugs-{site}-{machine}"
    return f"octoPrint/{site}/{machine}"


def demo_fleet(
    site: str,
    gateway: str,
    broker: str,
    machines: Sequence[tuple[str, str]],
    *,
    store: Path | None = None,
    time_scale: float = 1.0,
    protocol: Protocol = "5",
    adapters: Mapping[str, str] | None = None,
) -> tuple[GatewayConfig, Fleet]:
    """A gateway configuration and the simulated fleet behind it, for `(machine, kind)` pairs.

    The dialect follows the kind (`dialect_for`) unless `adapters` names one for the machine
    (`tasmota`, `shelly` or `octoprint`). Thresholds are divided by `time_scale`, because the gateway
    measures wall time while the simulated machines live in simulated time.
    """
    scale = time_scale
    entries = []
    specs = []
    for machine, kind in machines:
        sim_kind, dialect = dialect_for(kind)
        chosen = (adapters or {}).get(machine)
        if chosen is not None:
            if chosen not in _DIALECTS:
                raise ValueError(f"{machine}: the simulator has no {chosen!r} devices")
            dialect = _DIALECTS[chosen]
            if dialect == "octoprint":
                sim_kind = "printer"
            elif sim_kind == "printer":
                sim_kind = "laser"
        source = source_for(site, machine, dialect)
        specs.append(DeviceSpec(machine, sim_kind, dialect, source))
        entries.append(
            MachineConfig(
                machine=machine,
                adapter=dialect,
                source=source,
                busy_on_w=60.0,
                busy_off_w=25.0,
                busy_min_s=5.0 / scale,
                idle_min_s=30.0 / scale,
                idle_stop_s=300.0 / scale,
            )
        )
    config = GatewayConfig(
        site=site,
        gateway=gateway,
        broker=broker,
        protocol=protocol,
        store=store,
        machines=entries,
        reconnect_max_s=10,
    )
    return config, Fleet(tuple(specs))


def fleet_for(config: GatewayConfig) -> Fleet:
    """The simulated devices behind an existing gateway configuration (native ones are skipped)."""
    specs = []
    for entry in config.machines:
        if entry.adapter == "native":
            continue
        kind: Kind = "printer" if entry.adapter == "octoprint" else dialect_for(entry.machine)[0]
        specs.append(DeviceSpec(entry.machine, kind, entry.adapter, entry.source))
    return Fleet(tuple(specs))


def generated_fleet(site: str, count: int) -> list[tuple[str, str]]:
    """`count` machines, mixed like a real lab: lasers, CNCs and printers."""
    pattern = ["laser", "printer", "laser", "cnc", "printer"]
    numbers: Counter[str] = Counter()
    machines = []
    for index in range(count):
        kind = pattern[index % len(pattern)]
        numbers[kind] += 1
        machines.append((f"{kind}-{numbers[kind]}", kind))
    return machines


def config_toml(config: GatewayConfig) -> str:
    """A gateway file for `config`, in the format of CONTRACT §2."""
    lines = [
        f'site = "{config.site}"',
        f'gateway = "{config.gateway}"',
        f'broker = "{config.broker}"',
    ]
    if config.protocol != "5":
        lines.append(f'protocol = "{config.protocol}"')
    for entry in config.machines:
        lines += [
            "",
            "[[machine]]",
            f'machine = "{entry.machine}"',
            f'adapter = "{entry.adapter}"',
            f'source = "{entry.source}"',
        ]
        if entry.adapter in ("tasmota", "shelly"):
            lines += [
                f"busy_on_w = {entry.busy_on_w:g}",
                f"busy_off_w = {entry.busy_off_w:g}",
                f"busy_min_s = {entry.busy_min_s:g}",
                f"idle_min_s = {entry.idle_min_s:g}",
                f"idle_stop_s = {entry.idle_stop_s:g}",
            ]
    return "\n".join(lines) + "\n"
