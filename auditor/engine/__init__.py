"""The engine: load checks, plan each host's probes, collect them in one batched round trip,
judge, and carry on whatever one host does."""
