"""The gateway's TOML file (CONTRACT §2), validated strictly, with errors a person can act on.

`load_config(path)` returns a `GatewayConfig` or raises `ConfigError`, whose message names the file,
the line where it can, the key, and what is expected::

    gateway.toml:14: machine[2] (laser-2).adapter: expected one of tasmota, shelly, octoprint,
    native (got 'tasmot')

Keys beyond CONTRACT §2, all optional: `protocol` (`"5"` or `"3.1.1"`), `store` (the SQLite file of
the outbox and the command log; relative paths are taken from the config file's folder; default
`<gateway>.sqlite3` there), `heartbeat_s`, `reconnect_max_s`, `command_ttl_s`, and per machine
`idle_stop_s`.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from firmware_bridge.client import BrokerUrlError, parse_broker_url
from firmware_bridge.contract.messages import Slug
from firmware_bridge.edge.adapters import ADAPTERS
from firmware_bridge.edge.adapters.usage import Thresholds

AdapterName = Literal["tasmota", "shelly", "octoprint", "native"]
_SOURCE = re.compile(r"^[^/+#\s][^+#\s]{0,199}$")


class ConfigError(Exception):
    """The configuration cannot be used; the message says where and what is expected."""


class MachineConfig(BaseModel):
    """One `[[machine]]` table: which device speaks for the machine, and its thresholds."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    machine: Slug
    adapter: AdapterName
    source: str
    busy_on_w: float = Field(default=60.0, ge=0, allow_inf_nan=False)
    busy_off_w: float = Field(default=25.0, ge=0, allow_inf_nan=False)
    busy_min_s: float = Field(default=5.0, ge=0, allow_inf_nan=False)
    idle_min_s: float = Field(default=30.0, ge=0, allow_inf_nan=False)
    idle_stop_s: float = Field(default=300.0, ge=0, allow_inf_nan=False)

    @field_validator("source")
    @classmethod
    def _source_is_a_topic_part(cls, value: str) -> str:
        if not _SOURCE.match(value) or value.endswith("/"):
            raise ValueError(
                "expected the device's topic, Shelly id or base topic: no spaces, no + or #, "
                "not starting or ending with /"
            )
        return value

    @model_validator(mode="after")
    def _hysteresis_is_ordered(self) -> MachineConfig:
        if self.busy_off_w > self.busy_on_w:
            raise ValueError(
                f"busy_off_w ({self.busy_off_w:g}) must not exceed busy_on_w ({self.busy_on_w:g}):"
                " busy above busy_on_w, idle below busy_off_w"
            )
        return self

    def thresholds(self) -> Thresholds:
        """The usage detector's thresholds for this machine."""
        return Thresholds(
            busy_on_w=self.busy_on_w,
            busy_off_w=self.busy_off_w,
            busy_min_s=self.busy_min_s,
            idle_min_s=self.idle_min_s,
            idle_stop_s=self.idle_stop_s,
        )


class GatewayConfig(BaseModel):
    """A whole gateway file."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", strict=True, validate_by_name=True, validate_by_alias=True
    )

    site: Slug
    gateway: Slug
    broker: str
    protocol: Literal["5", "3.1.1"] = "5"
    store: Path | None = None
    heartbeat_s: float = Field(default=30.0, gt=0, allow_inf_nan=False)
    reconnect_max_s: int = Field(default=30, ge=1)
    # deny and warn older than this are answered `expired` (a queue that waited out a long outage).
    command_ttl_s: float = Field(default=60.0, gt=0, allow_inf_nan=False)
    machines: list[MachineConfig] = Field(alias="machine", min_length=1)

    @field_validator("broker")
    @classmethod
    def _broker_is_a_url(cls, value: str) -> str:
        try:
            parse_broker_url(value)
        except BrokerUrlError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("store", mode="before")
    @classmethod
    def _store_from_text(cls, value: Any) -> Any:
        return Path(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _machines_are_distinct(self) -> GatewayConfig:
        owners: dict[str, str] = {}
        seen: set[str] = set()
        for entry in self.machines:
            if entry.machine in seen:
                raise ValueError(f"machine {entry.machine!r} is listed twice")
            seen.add(entry.machine)
            adapter = ADAPTERS[entry.adapter](entry.source, gateway=self.gateway)
            for topic in adapter.subscriptions():
                owner = owners.setdefault(topic, entry.machine)
                if owner != entry.machine:
                    raise ValueError(
                        f"machines {owner!r} and {entry.machine!r} both listen on {topic!r}:"
                        " give each machine its own source"
                    )
        return self

    def store_path(self, base: Path | None = None) -> Path:
        """Where the outbox lives: `store`, relative to `base` (the config's folder) if relative."""
        path = self.store if self.store is not None else Path(f"{self.gateway}.sqlite3")
        return path if path.is_absolute() or base is None else base / path


def load_config(path: str | Path) -> GatewayConfig:
    """Read and validate a gateway file; raise `ConfigError` naming the file, line and key."""
    path = Path(path)
    try:
        source = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the file: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: the file is not UTF-8 text") from None
    try:
        raw = tomllib.loads(source)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    try:
        config = GatewayConfig.model_validate(raw)
    except ValidationError as exc:
        lines = [_explain(path, source, raw, error) for error in exc.errors(include_url=False)]
        raise ConfigError("\n".join(lines)) from None
    if config.store is not None and not config.store.is_absolute():
        config = config.model_copy(update={"store": path.parent / config.store})
    elif config.store is None:
        config = config.model_copy(update={"store": path.parent / f"{config.gateway}.sqlite3"})
    return config


def _explain(path: Path, source: str, raw: dict[str, Any], error: Any) -> str:
    loc = tuple(error["loc"])
    index = None
    if len(loc) >= 2 and loc[0] == "machine" and isinstance(loc[1], int):
        index = loc[1]
        key = loc[2] if len(loc) > 2 else None
        entry = raw.get("machine", [None])[index]
        name = entry.get("machine") if isinstance(entry, dict) else None
        where = f"machine[{index + 1}]" + (f" ({name})" if isinstance(name, str) else "")
        where += f".{key}" if key else ""
    else:
        key = loc[0] if loc else None
        where = str(key) if key else "file"
    line = _line_of(source, index, str(key) if key is not None else None)
    at = f"{path}:{line}" if line else str(path)
    return f"{at}: {where}: {_expected(error)}"


def _expected(error: Any) -> str:
    kind = error["type"]
    given = error.get("input")
    if kind == "missing":
        return "required key is missing"
    if kind == "extra_forbidden":
        return "unknown key (check the spelling; see deploy/gateway.example.toml)"
    if kind == "literal_error":
        choices = error.get("ctx", {}).get("expected", "")
        choices = choices.replace("'", "").replace(" or ", ", ")
        return f"expected one of {choices} (got {given!r})"
    message = str(error["msg"]).removeprefix("Value error, ")
    if kind.startswith(("string_pattern", "string_type")) and error["loc"][-1] in (
        "site",
        "gateway",
        "machine",
    ):
        return f"expected a slug of a-z, 0-9 and - (1 to 64 characters), got {given!r}"
    if kind in ("float_type", "int_type", "greater_than_equal", "greater_than", "finite_number"):
        return f"{message[0].lower()}{message[1:]} (got {given!r})"
    return message


def _line_of(source: str, machine_index: int | None, key: str | None) -> int | None:
    lines = source.splitlines()
    start, end = 0, len(lines)
    headers = [i for i, text in enumerate(lines) if re.match(r"^\s*\[\[\s*machine\s*\]\]", text)]
    if machine_index is not None:
        if machine_index >= len(headers):
            return None
        start = headers[machine_index]
        later = [i for i, text in enumerate(lines) if i > start and text.lstrip().startswith("[")]
        end = later[0] if later else len(lines)
    elif headers:
        end = headers[0]
    if key is not None:
        pattern = re.compile(rf"^\s*{re.escape(key)}\s*=")
        for number in range(start, end):
            if pattern.match(lines[number]):
                return number + 1
    return start + 1 if machine_index is not None else None


__all__ = ["ConfigError", "GatewayConfig", "MachineConfig", "load_config"]
