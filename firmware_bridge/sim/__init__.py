"""The simulated FabLab: devices in their native dialects, for the demo, the tests and the benchmarks."""
