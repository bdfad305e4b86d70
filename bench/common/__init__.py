"""Code the benchmarks and the demo share."""
