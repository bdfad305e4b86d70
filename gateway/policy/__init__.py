"""The live inputs of τ and s: prices and price schedules, the budget store (μ), the score
calibration store, and what gathers them per request (``inputs``). Adapters with state; the
decisions themselves are the pure functions of ``gateway.routing``."""
