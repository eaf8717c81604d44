"""The canonical MQTT topic grammar of CONTRACT §1: build, match and parse `fablab/v1/…` topics.

Everything canonical lives under `fablab/v1/`. `{site}`, `{gw}` and `{machine}` are slugs
(`[a-z0-9-]{1,64}`), so a topic segment can never smuggle in a `/`, `+` or `#`. Builders raise
`TopicError` for a bad slug; `parse` raises it for a topic outside the grammar. This module is shared by
the gateway and the center's bridge and imports no MQTT client.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

ROOT = "fablab/v1"
SLUG_PATTERN = r"[a-z0-9-]{1,64}"
_SLUG = re.compile(rf"^{SLUG_PATTERN}$")


class TopicError(ValueError):
    """A topic or slug outside the canonical grammar."""


class TopicKind(enum.StrEnum):
    """Which row of the CONTRACT §1 table a topic is."""

    center_state = "center_state"
    machine_status = "machine_status"
    command = "command"
    edge_state = "edge_state"
    heartbeat = "heartbeat"
    availability = "availability"
    telemetry = "telemetry"
    event = "event"
    ack = "ack"


# The per-machine edge topics end in one of these words.
_EDGE_MACHINE_KINDS: dict[str, TopicKind] = {
    "availability": TopicKind.availability,
    "telemetry": TopicKind.telemetry,
    "event": TopicKind.event,
    "ack": TopicKind.ack,
}


@dataclass(frozen=True, slots=True)
class Topic:
    """A parsed canonical topic; `site`, `gateway` and `machine` are set where the kind has them."""

    kind: TopicKind
    site: str | None = None
    gateway: str | None = None
    machine: str | None = None


def is_slug(value: str) -> bool:
    """True when `value` is a slug `[a-z0-9-]{1,64}`."""
    return bool(_SLUG.match(value))


def check_slug(value: str, what: str = "slug") -> str:
    """Return `value` if it is a slug, else raise `TopicError` naming `what`."""
    if not isinstance(value, str) or not _SLUG.match(value):
        raise TopicError(f"{what} must match {SLUG_PATTERN}, got {value!r}")
    return value


def center_state() -> str:
    """`fablab/v1/center/state`: the center's birth and will (retained)."""
    return f"{ROOT}/center/state"


def machine_status(site: str, machine: str) -> str:
    """`fablab/v1/{site}/machine/{machine}/status`: the center's authoritative live state."""
    return f"{ROOT}/{check_slug(site, 'site')}/machine/{check_slug(machine, 'machine')}/status"


def command(site: str, gateway: str, machine: str) -> str:
    """`fablab/v1/{site}/cmd/{gw}/{machine}`: commands to one machine, never retained."""
    return (
        f"{ROOT}/{check_slug(site, 'site')}/cmd/{check_slug(gateway, 'gateway')}"
        f"/{check_slug(machine, 'machine')}"
    )


def edge_state(site: str, gateway: str) -> str:
    """`fablab/v1/{site}/edge/{gw}/state`: the gateway's birth and will (retained)."""
    return f"{_edge(site, gateway)}/state"


def heartbeat(site: str, gateway: str) -> str:
    """`fablab/v1/{site}/edge/{gw}/heartbeat`: the gateway's periodic sign of life."""
    return f"{_edge(site, gateway)}/heartbeat"


def availability(site: str, gateway: str, machine: str) -> str:
    """`…/edge/{gw}/machine/{machine}/availability`: the device's own will, mirrored (retained)."""
    return _edge_machine(site, gateway, machine, "availability")


def telemetry(site: str, gateway: str, machine: str) -> str:
    """`…/edge/{gw}/machine/{machine}/telemetry`: measurements (QoS 0)."""
    return _edge_machine(site, gateway, machine, "telemetry")


def event(site: str, gateway: str, machine: str) -> str:
    """`…/edge/{gw}/machine/{machine}/event`: ordered lifecycle events (QoS 1)."""
    return _edge_machine(site, gateway, machine, "event")


def ack(site: str, gateway: str, machine: str) -> str:
    """`…/edge/{gw}/machine/{machine}/ack`: the answer to each command (QoS 1)."""
    return _edge_machine(site, gateway, machine, "ack")


def commands_filter(site: str, gateway: str) -> str:
    """The filter a gateway subscribes to for the commands of all its machines."""
    return f"{ROOT}/{check_slug(site, 'site')}/cmd/{check_slug(gateway, 'gateway')}/+"


def edge_filter(site: str = "+", gateway: str = "+") -> str:
    """The filter for everything gateways publish; `+` (the default) matches any site or gateway."""
    site_part = site if site == "+" else check_slug(site, "site")
    gw_part = gateway if gateway == "+" else check_slug(gateway, "gateway")
    return f"{ROOT}/{site_part}/edge/{gw_part}/#"


def readings_filters(site: str = "+") -> list[str]:
    """The filters for gateways' readings (heartbeats, telemetry): sampled, QoS 0, the bulk of it."""
    base = _edge_any(site)
    return [f"{base}/heartbeat", f"{base}/machine/+/telemetry"]


def lifecycle_filters(site: str = "+") -> list[str]:
    """The filters for the rest of what gateways publish: births and wills, availability, events
    (card taps among them) and acks. With `readings_filters` they cover every topic of `edge_filter`."""
    base = _edge_any(site)
    return [f"{base}/state", *(f"{base}/machine/+/{leaf}" for leaf in ("availability", "event", "ack"))]


def _edge_any(site: str) -> str:
    site_part = site if site == "+" else check_slug(site, "site")
    return f"{ROOT}/{site_part}/edge/+"


def machine_status_filter(site: str = "+") -> str:
    """The filter for the retained machine statuses of one site (or every site)."""
    site_part = site if site == "+" else check_slug(site, "site")
    return f"{ROOT}/{site_part}/machine/+/status"


def shared(group: str, topic_filter: str) -> str:
    """An MQTT 5 shared subscription, so several bridge consumers split one filter's messages."""
    return f"$share/{check_slug(group, 'group')}/{topic_filter}"


def parse(topic: str) -> Topic:
    """Parse a canonical topic into its kind and slugs; raise `TopicError` if it is not one."""
    parts = topic.split("/")
    if len(parts) < 4 or f"{parts[0]}/{parts[1]}" != ROOT:
        raise TopicError(f"not a canonical topic: {topic!r}")
    rest = parts[2:]
    if rest == ["center", "state"]:
        return Topic(TopicKind.center_state)
    site = rest[0]
    if not is_slug(site):
        raise TopicError(f"bad site in topic {topic!r}")
    parsed = _parse_site_topic(site, rest[1:])
    if parsed is None:
        raise TopicError(f"not a canonical topic: {topic!r}")
    return parsed


def _parse_site_topic(site: str, rest: list[str]) -> Topic | None:
    match rest:
        case ["machine", machine, "status"] if is_slug(machine):
            return Topic(TopicKind.machine_status, site=site, machine=machine)
        case ["cmd", gw, machine] if is_slug(gw) and is_slug(machine):
            return Topic(TopicKind.command, site=site, gateway=gw, machine=machine)
        case ["edge", gw, "state"] if is_slug(gw):
            return Topic(TopicKind.edge_state, site=site, gateway=gw)
        case ["edge", gw, "heartbeat"] if is_slug(gw):
            return Topic(TopicKind.heartbeat, site=site, gateway=gw)
        case ["edge", gw, "machine", machine, last] if (
            is_slug(gw) and is_slug(machine) and last in _EDGE_MACHINE_KINDS
        ):
            return Topic(_EDGE_MACHINE_KINDS[last], site=site, gateway=gw, machine=machine)
    return None


def _edge(site: str, gateway: str) -> str:
    return f"{ROOT}/{check_slug(site, 'site')}/edge/{check_slug(gateway, 'gateway')}"


def _edge_machine(site: str, gateway: str, machine: str, leaf: str) -> str:
    return f"{_edge(site, gateway)}/machine/{check_slug(machine, 'machine')}/{leaf}"
