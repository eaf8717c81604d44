"""Alerts, and the conditions that open and close them by themselves: offline and faults."""
