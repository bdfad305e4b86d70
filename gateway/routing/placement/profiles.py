"""The six placement policies as profiles: filters → weighted scorers → picker.

The names are the values of ``NETGPT_ROUTING_PLACEMENT_POLICY`` (a contract). Every profile
first keeps the eligible experts (healthy, context large enough); then:

============  ==============================  ====================  ============  =============
policy        SLO check                       scorers (weight)      picker        reason
============  ==============================  ====================  ============  =============
round_robin   —                               —                     round_robin   round_robin
least_loaded  —                               load (1)              rotating_max  least_loaded
weighted      —                               queue (2), kv (2)     rotating_max  weighted_score
best_fit      has_headroom, keep who passes   headroom (1)          max_score     best_fit_headroom
impact        meets_slo P≥0.95, keep who      impact (1)            max_score     best_qos
              passes
learned       meets_slo, reason only          learned (1)           max_score     learned
============  ==============================  ====================  ============  =============

``weighted`` is the Kubernetes inference gateway's endpoint picker, ``best_fit`` llm-d's
predicted-latency scheduler, ``impact`` ours (SEEDS.md). The SLO check sets the reason: when no
candidate passes it, the placement says ``no_expert_meets_slo`` (and the caller may send the
request to the cloud: ``cloud_wins``); a profile that keeps who passes then keeps them all.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.routing.placement.filters import FitsContext, HasHeadroom, Healthy, MeetsSlo
from gateway.routing.placement.interfaces import Filter, Picker, Scorer
from gateway.routing.placement.pickers import MaxScore, RotatingMax, RoundRobin
from gateway.routing.placement.scorers import Headroom, Impact, KvCache, Learned, Load, Queue

ELIGIBLE: tuple[Filter, ...] = (Healthy(), FitsContext())
# impact: an expert counts as meeting the SLO from this P(meet) up (0.95 chosen on the
# simulator's training half of the Azure traces, seed 200, from 0.5/0.7/0.85/0.95)
IMPACT_MIN_P_MEET = 0.95
NO_EXPERT_MEETS_SLO = "no_expert_meets_slo"
NO_ELIGIBLE_EXPERT = "no_eligible_expert"


@dataclass(frozen=True, slots=True)
class Profile:
    """One placement policy: which plugins, with which weights.

    ``filters``: a candidate that fails one is never chosen (none left: ``no_eligible_expert``).
    ``slo_check``: which candidates can meet the request's SLO; none can → the reason is
    ``no_expert_meets_slo``. ``slo_restricts``: when some can, choose among those only (False:
    the check only sets the reason). ``scorers``: (scorer, weight), summed per candidate.
    """

    name: str
    reason: str  # Placement.reason when the SLO check passes (or there is none)
    picker: Picker
    scorers: tuple[tuple[Scorer, float], ...] = ()
    filters: tuple[Filter, ...] = ELIGIBLE
    slo_check: Filter | None = None
    slo_restricts: bool = True


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile("round_robin", "round_robin", RoundRobin()),
        Profile("least_loaded", "least_loaded", RotatingMax(), ((Load(), 1.0),)),
        Profile("weighted", "weighted_score", RotatingMax(), ((Queue(), 2.0), (KvCache(), 2.0))),
        Profile(
            "best_fit",
            "best_fit_headroom",
            MaxScore(),
            ((Headroom(), 1.0),),
            slo_check=HasHeadroom(),
        ),
        Profile(
            "impact",
            "best_qos",
            MaxScore(),
            ((Impact(), 1.0),),
            slo_check=MeetsSlo(IMPACT_MIN_P_MEET),
        ),
        Profile(
            "learned",
            "learned",
            MaxScore(),
            ((Learned(), 1.0),),
            slo_check=MeetsSlo(),
            slo_restricts=False,
        ),
    )
}
POLICIES: tuple[str, ...] = tuple(PROFILES)
DEFAULT_POLICY = "impact"
