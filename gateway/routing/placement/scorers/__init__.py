"""Placement scorers: each rates every candidate in [0, 1] (``interfaces.Scorer``)."""

from gateway.routing.placement.scorers.headroom import Headroom
from gateway.routing.placement.scorers.impact import Impact, impact_score
from gateway.routing.placement.scorers.kv_cache import KvCache
from gateway.routing.placement.scorers.latency import Latency
from gateway.routing.placement.scorers.learned import Learned
from gateway.routing.placement.scorers.load import Load
from gateway.routing.placement.scorers.quality import Quality
from gateway.routing.placement.scorers.queue import Queue

__all__ = [
    "Headroom",
    "Impact",
    "KvCache",
    "Latency",
    "Learned",
    "Load",
    "Quality",
    "Queue",
    "impact_score",
]
