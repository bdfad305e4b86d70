"""Benchmarks: load, routing simulator on real data, demo."""
