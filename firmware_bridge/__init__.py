"""Everything MQTT: the canonical contract, the center's bridge, the edge adapters and the simulator."""
