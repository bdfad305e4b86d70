"""``netgpt demo``: the real gateway between replayed edge/cloud models and a trace-driven
network, with a load generator and a live terminal view."""
