"""Placement pickers: each chooses one candidate from the weighted scores (``interfaces.Picker``)."""

from gateway.routing.placement.pickers.max_score import MaxScore
from gateway.routing.placement.pickers.rotating_max import RotatingMax
from gateway.routing.placement.pickers.round_robin import RoundRobin

__all__ = ["MaxScore", "RotatingMax", "RoundRobin"]
