"""The edge of `fablab demo`: a gateway and a simulated fleet for it, both in-process::

demo = EdgeDemo(site="biic", gateway="gw-demo", broker="mqtt://127.0.0.1:1884",
                machines=[("laser-1", "laser"), ("cnc-1", "cnc"), ("printer-1", "printer")],
                state_dir=Path("var"), protocol="3.1.1")
demo.start()    # gateway and simulator threads; returns at once
...
demo.stop()     # devices publish their wills, then the gateway says `lost`
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from firmware_bridge.client import Protocol
from firmware_bridge.edge.gateway import Gateway
from firmware_bridge.sim.fleets import demo_fleet
from firmware_bridge.sim.simulator import Simulator, Step


class EdgeDemo:
    """A gateway and a simulated fleet for it, in-process: what `fablab demo` runs."""

    def __init__(
        self,
        site: str,
        gateway: str,
        broker: str,
        machines: Sequence[tuple[str, str]],
        *,
        state_dir: Path,
        time_scale: float = 1.0,
        period_s: float = 2.0,
        protocol: Protocol = "5",
        seed: int | None = None,
        scenario: Sequence[Step] = (),
        random_activity: bool = True,
        adapters: Mapping[str, str] | None = None,
    ) -> None:
        self.config, self.fleet = demo_fleet(
            site,
            gateway,
            broker,
            machines,
            store=state_dir / f"edge-{site}-{gateway}.sqlite3",
            time_scale=time_scale,
            protocol=protocol,
            adapters=adapters,
        )
        self.gateway = Gateway(self.config)
        self.simulator = Simulator(
            self.fleet,
            broker,
            time_scale=time_scale,
            period_s=period_s,
            scenario=scenario,
            random_activity=random_activity,
            seed=seed,
            protocol=protocol,
            client_id=f"fablab-sim-{site}-{gateway}",
        )

    def start(self) -> None:
        """Start the gateway, then the devices; returns at once (both connect in the background)."""
        self.gateway.start()
        self.simulator.start()

    def wait_ready(self, timeout: float) -> bool:
        """Block until both are connected."""
        deadline = time.monotonic() + timeout
        if not self.gateway.wait_ready(timeout):
            return False
        return self.simulator.wait_connected(max(0.0, deadline - time.monotonic()))

    def stop(self) -> None:
        """Stop the devices (they publish their wills), then the gateway (it publishes `lost`)."""
        self.simulator.stop()
        self.gateway.stop()
