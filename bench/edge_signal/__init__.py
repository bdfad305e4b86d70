"""``netgpt bench edge-signal``: the real edge's correctness and log-prob signal on BFCL v1."""
