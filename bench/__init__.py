"""The throughput benchmark: the real service on loopback, measured next to its baselines."""
