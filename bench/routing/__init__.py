"""Routing benchmark on real data: BFCL v1 requests, recorded model outcomes, real network traces.

The simulator replays each request through the gateway's own pure routing code
(``gateway.routing``) and reports quality-cost-latency frontiers per network family. What is
recorded and what is simulated is spelled out in ``docs/bench-routing.md`` and in every report.
"""
