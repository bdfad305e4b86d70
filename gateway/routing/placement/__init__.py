"""Placement across edge experts: filters → scorers → picker, the six policies as profiles.

    eligible  = healthy experts whose context fits prompt + expected output   (filters/)
    scores    = Σ weight · scorer(candidates), each in [0, 1]                  (scorers/)
    expert    = picker(candidates, scores)                                     (pickers/)
    Placement(expert, predicted TTFT/total, added latency and SLO misses of the others, ...)

The public surface is this module; plugins implement ``interfaces.Filter``/``Scorer``/
``Picker``; ``profiles.PROFILES`` names the six policies (``NETGPT_ROUTING_PLACEMENT_POLICY``).
The estimator of a candidate's latency and impact (``estimator``), the online latency model
(``latency_model``) and the learned policy's numpy forward pass (``learned_model``, imported on
demand: it loads numpy) live here too. Pure: no I/O (but ``learned_model.load_policy``), no
clock, no globals.

>>> from gateway.routing.placement import ExpertView, RequestView, place
>>> experts = [ExpertView("a", quality=0.8, in_flight=3), ExpertView("b", quality=0.7, in_flight=0)]
>>> place(RequestView(prompt_tokens=300, expected_output_tokens=30), experts, {}, "least_loaded").expert
'b'
"""

from gateway.routing.placement.cloud import cloud_wins
from gateway.routing.placement.estimator import Estimate, estimate, remaining_tokens
from gateway.routing.placement.interfaces import (
    Chooser,
    Context,
    Filter,
    Picker,
    PolicyState,
    Scorer,
)
from gateway.routing.placement.latency_model import LatencyModel, LatencyPrediction, LatencyPrior
from gateway.routing.placement.pipeline import choose, eligible, place
from gateway.routing.placement.profiles import DEFAULT_POLICY, POLICIES, PROFILES, Profile
from gateway.routing.placement.views import ExpertView, InFlight, Placement, RequestView

__all__ = [
    "DEFAULT_POLICY",
    "POLICIES",
    "PROFILES",
    "Chooser",
    "Context",
    "Estimate",
    "ExpertView",
    "Filter",
    "InFlight",
    "LatencyModel",
    "LatencyPrediction",
    "LatencyPrior",
    "Picker",
    "Placement",
    "PolicyState",
    "Profile",
    "RequestView",
    "Scorer",
    "choose",
    "cloud_wins",
    "eligible",
    "estimate",
    "place",
    "remaining_tokens",
]
