"""The gateway file: a good one loads; a bad one stops the gateway with file, line, key and why."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from firmware_bridge.edge import cli as edge_cli
from firmware_bridge.edge.config import ConfigError, load_config
from firmware_bridge.sim import cli as sim_cli

ROOT = Path(__file__).resolve().parents[2]
GOOD = """\
site = "biic"
gateway = "gw-fablab-1"
broker = "mqtt://gw-fablab-1:SECRET@127.0.0.1:1883"

[[machine]]
machine = "laser-1"
adapter = "tasmota"
source = "tasmota_laser1"
busy_on_w = 60
busy_off_w = 25
busy_min_s = 5
idle_min_s = 30

[[machine]]
machine = "printer-1"
adapter = "octoprint"
source = "octoPrint/prusa-1"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(text, encoding="utf-8")
    return path


def error_of(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return str(caught.value).replace(str(path), "gateway.toml")


class TestLoad:
    def test_reads_the_contract_example(self, tmp_path: Path) -> None:
        config = load_config(write(tmp_path, GOOD))
        assert (config.site, config.gateway) == ("biic", "gw-fablab-1")
        assert [m.machine for m in config.machines] == ["laser-1", "printer-1"]
        laser = config.machines[0].thresholds()
        assert (laser.busy_on_w, laser.busy_off_w, laser.busy_min_s, laser.idle_min_s) == (
            60,
            25,
            5,
            30,
        )
        assert config.store == tmp_path / "gw-fablab-1.sqlite3"

    def test_reads_the_shipped_example(self) -> None:
        config = load_config(ROOT / "deploy" / "gateway.example.toml")
        assert {m.adapter for m in config.machines} == {"tasmota", "shelly", "octoprint", "native"}
        assert config.store == Path("/var/lib/fablab/gw-fablab-1.sqlite3")

    def test_a_relative_store_is_next_to_the_file(self, tmp_path: Path) -> None:
        config = load_config(write(tmp_path, 'store = "state/edge.db"\n' + GOOD))
        assert config.store == tmp_path / "state" / "edge.db"


class TestErrors:
    def test_an_unknown_adapter(self, tmp_path: Path) -> None:
        text = GOOD.replace('adapter = "tasmota"', 'adapter = "tasmot"')
        assert error_of(tmp_path, text) == (
            "gateway.toml:7: machine[1] (laser-1).adapter: expected one of tasmota, shelly, "
            "octoprint, native (got 'tasmot')"
        )

    def test_a_missing_field(self, tmp_path: Path) -> None:
        text = GOOD.replace('source = "octoPrint/prusa-1"\n', "")
        assert error_of(tmp_path, text) == (
            "gateway.toml:14: machine[2] (printer-1).source: required key is missing"
        )

    def test_a_missing_top_level_key(self, tmp_path: Path) -> None:
        text = GOOD.replace('site = "biic"\n', "")
        assert error_of(tmp_path, text) == "gateway.toml: site: required key is missing"

    def test_thresholds_the_wrong_way_round(self, tmp_path: Path) -> None:
        text = GOOD.replace("busy_off_w = 25", "busy_off_w = 80")
        assert error_of(tmp_path, text) == (
            "gateway.toml:5: machine[1] (laser-1): busy_off_w (80) must not exceed busy_on_w (60):"
            " busy above busy_on_w, idle below busy_off_w"
        )

    def test_a_negative_threshold(self, tmp_path: Path) -> None:
        text = GOOD.replace("busy_min_s = 5", "busy_min_s = -5")
        assert error_of(tmp_path, text) == (
            "gateway.toml:11: machine[1] (laser-1).busy_min_s: input should be greater than or"
            " equal to 0 (got -5)"
        )

    def test_a_threshold_as_text(self, tmp_path: Path) -> None:
        text = GOOD.replace("busy_on_w = 60", 'busy_on_w = "60"')
        assert error_of(tmp_path, text) == (
            "gateway.toml:9: machine[1] (laser-1).busy_on_w: input should be a valid number (got '60')"
        )

    def test_a_misspelt_key(self, tmp_path: Path) -> None:
        text = GOOD.replace("idle_min_s = 30", "idle_mins = 30")
        assert error_of(tmp_path, text) == (
            "gateway.toml:12: machine[1] (laser-1).idle_mins: unknown key (check the spelling;"
            " see deploy/gateway.example.toml)"
        )

    def test_a_bad_slug(self, tmp_path: Path) -> None:
        text = GOOD.replace('gateway = "gw-fablab-1"', 'gateway = "GW 1"')
        assert error_of(tmp_path, text) == (
            "gateway.toml:2: gateway: expected a slug of a-z, 0-9 and - (1 to 64 characters), got 'GW 1'"
        )

    def test_a_bad_broker_url(self, tmp_path: Path) -> None:
        text = GOOD.replace("mqtt://gw-fablab-1:SECRET@127.0.0.1:1883", "http://broker")
        assert error_of(tmp_path, text) == (
            "gateway.toml:3: broker: broker URL must start with mqtt:// or mqtts://, got 'http'"
        )

    def test_two_machines_on_one_device(self, tmp_path: Path) -> None:
        text = GOOD + '\n[[machine]]\nmachine = "laser-2"\nadapter = "tasmota"\n'
        text += 'source = "tasmota_laser1"\n'
        assert error_of(tmp_path, text) == (
            "gateway.toml: file: machines 'laser-1' and 'laser-2' both listen on"
            " 'tele/tasmota_laser1/+': give each machine its own source"
        )

    def test_no_machines(self, tmp_path: Path) -> None:
        text = GOOD.split("[[machine]]")[0] + "machine = []\n"
        assert error_of(tmp_path, text) == (
            "gateway.toml:5: machine: List should have at least 1 item after validation, not 0"
        )

    def test_broken_toml(self, tmp_path: Path) -> None:
        text = GOOD.replace('adapter = "tasmota"', "adapter = tasmota")
        assert error_of(tmp_path, text) == (
            "gateway.toml: not valid TOML: Invalid value (at line 7, column 11)"
        )

    def test_a_missing_file(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match="cannot read the file: No such file"):
            load_config(tmp_path / "absent.toml")


class TestCommand:
    def parser(self) -> argparse.ArgumentParser:
        parser = argparse.ArgumentParser(prog="fablab")
        commands: argparse._SubParsersAction[Any] = parser.add_subparsers(dest="command")
        edge_cli.register(commands)
        sim_cli.register(commands)
        return parser

    def test_a_bad_file_exits_2_with_one_line(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        path = write(tmp_path, GOOD.replace('adapter = "tasmota"', 'adapter = "zigbee"'))
        args = self.parser().parse_args(["gateway", "--config", str(path)])
        assert args.handler(args) == 2
        err = capsys.readouterr().err
        assert err == (
            f"fablab gateway: {path}:7: machine[1] (laser-1).adapter: expected one of tasmota,"
            " shelly, octoprint, native (got 'zigbee')\n"
        )

    def test_the_real_command_prints_no_traceback(self, tmp_path: Path) -> None:
        path = write(tmp_path, GOOD.replace("busy_off_w = 25", "busy_off_w = 99"))
        result = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from web.cli import main; sys.exit(main())",
                "gateway",
                "--config",
                str(path),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
            check=False,
        )
        assert result.returncode == 2
        assert "Traceback" not in result.stderr
        assert result.stderr.startswith(f"fablab gateway: {path}:5: machine[1] (laser-1): ")

    def test_simulate_prints_a_matching_gateway_file(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        args = self.parser().parse_args(["simulate", "--machines", "5", "--site", "lab", "--print-config"])
        assert args.handler(args) == 0
        path = write(tmp_path, capsys.readouterr().out)
        config = load_config(path)
        assert [m.adapter for m in config.machines] == [
            "tasmota",
            "octoprint",
            "tasmota",
            "shelly",
            "octoprint",
        ]

    def test_simulate_refuses_an_unknown_scenario(self, capsys: pytest.CaptureFixture[str]) -> None:
        args = self.parser().parse_args(["simulate", "--scenario", "explode=laser-1"])
        assert args.handler(args) == 2
        assert "expected NAME=MACHINE[@SECONDS]" in capsys.readouterr().err
