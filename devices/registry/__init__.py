"""Machines and gateways, their live state as the contract publishes it, and commands to them."""
