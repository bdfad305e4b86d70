"""``netgpt bench experts``: several edge experts under load, simulated with the gateway's placement."""
