"""The canonical topic grammar of CONTRACT §1."""

from __future__ import annotations

import pytest

from firmware_bridge.contract import topics
from firmware_bridge.contract.topics import Topic, TopicError, TopicKind


class TestBuild:
    @pytest.mark.parametrize(
        ("built", "expected"),
        [
            (topics.center_state(), "fablab/v1/center/state"),
            (topics.machine_status("biic", "laser-1"), "fablab/v1/biic/machine/laser-1/status"),
            (topics.command("biic", "gw-1", "laser-1"), "fablab/v1/biic/cmd/gw-1/laser-1"),
            (topics.edge_state("biic", "gw-1"), "fablab/v1/biic/edge/gw-1/state"),
            (topics.heartbeat("biic", "gw-1"), "fablab/v1/biic/edge/gw-1/heartbeat"),
            (
                topics.availability("biic", "gw-1", "laser-1"),
                "fablab/v1/biic/edge/gw-1/machine/laser-1/availability",
            ),
            (
                topics.telemetry("biic", "gw-1", "laser-1"),
                "fablab/v1/biic/edge/gw-1/machine/laser-1/telemetry",
            ),
            (
                topics.event("biic", "gw-1", "laser-1"),
                "fablab/v1/biic/edge/gw-1/machine/laser-1/event",
            ),
            (topics.ack("biic", "gw-1", "laser-1"), "fablab/v1/biic/edge/gw-1/machine/laser-1/ack"),
            (topics.commands_filter("biic", "gw-1"), "fablab/v1/biic/cmd/gw-1/+"),
            (topics.edge_filter(), "fablab/v1/+/edge/+/#"),
            (topics.edge_filter("biic"), "fablab/v1/biic/edge/+/#"),
            (topics.machine_status_filter(), "fablab/v1/+/machine/+/status"),
            (topics.shared("bridge", topics.edge_filter()), "$share/bridge/fablab/v1/+/edge/+/#"),
        ],
    )
    def test_builds_the_contract_topics(self, built: str, expected: str) -> None:
        assert built == expected

    @pytest.mark.parametrize("bad", ["", "Laser", "laser/1", "laser+", "#", "a" * 65, "las er"])
    def test_refuses_a_bad_slug(self, bad: str) -> None:
        with pytest.raises(TopicError, match="machine must match"):
            topics.telemetry("biic", "gw-1", bad)


class TestParse:
    @pytest.mark.parametrize(
        ("topic", "expected"),
        [
            ("fablab/v1/center/state", Topic(TopicKind.center_state)),
            (
                "fablab/v1/biic/machine/laser-1/status",
                Topic(TopicKind.machine_status, site="biic", machine="laser-1"),
            ),
            (
                "fablab/v1/biic/cmd/gw-1/laser-1",
                Topic(TopicKind.command, site="biic", gateway="gw-1", machine="laser-1"),
            ),
            ("fablab/v1/biic/edge/gw-1/state", Topic(TopicKind.edge_state, "biic", "gw-1")),
            ("fablab/v1/biic/edge/gw-1/heartbeat", Topic(TopicKind.heartbeat, "biic", "gw-1")),
            (
                "fablab/v1/biic/edge/gw-1/machine/cnc-2/event",
                Topic(TopicKind.event, "biic", "gw-1", "cnc-2"),
            ),
            (
                "fablab/v1/biic/edge/gw-1/machine/cnc-2/ack",
                Topic(TopicKind.ack, "biic", "gw-1", "cnc-2"),
            ),
        ],
    )
    def test_reads_each_kind(self, topic: str, expected: Topic) -> None:
        assert topics.parse(topic) == expected

    @pytest.mark.parametrize(
        "topic",
        [
            "fablab/v2/biic/edge/gw-1/state",
            "tele/tasmota_laser1/SENSOR",
            "fablab/v1/biic/edge/gw-1/machine/laser-1/secrets",
            "fablab/v1/BIIC/edge/gw-1/state",
            "fablab/v1/biic/edge/gw-1/machine/laser-1/event/extra",
            "fablab/v1/biic",
        ],
    )
    def test_refuses_what_is_not_canonical(self, topic: str) -> None:
        with pytest.raises(TopicError):
            topics.parse(topic)

    def test_round_trips_every_builder(self) -> None:
        topic = topics.telemetry("hcm-2", "gw-7", "printer-3")
        assert topics.parse(topic) == Topic(TopicKind.telemetry, "hcm-2", "gw-7", "printer-3")
