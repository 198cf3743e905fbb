"""Benchmarks of the 46elks integration against Home Assistant baselines."""
