"""The simulator's prediction for the testbed's setting (``bench.experts.sim``, B1's code).

Same experts (profiles calibrated on the testbed), same arrival times, same policy, the same
deadline. Two adaptations, because the simulator speaks streaming SLOs (TTFT, TPOT) and the
gateway answers a draft whole: each simulated request carries the testbed's deadline as
``RequestView.deadline_s`` (the gateway places with exactly that), and a miss is counted as
the testbed counts it: the whole answer later than the deadline. Output lengths are drawn from
the calibration's measured drafts; the cloud is the fake's fixed delay plus the static RTT.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Sequence
from typing import Any

from bench.experts.testbed.workload import Arrival


def predict(
    profiles: Sequence[Any],
    arrivals: Sequence[Arrival],
    deadline_s: float,
    policy: str,
    prompt_tokens: int,
    outputs: Sequence[int],
    opts: Any,
) -> dict[str, Any]:
    from bench.experts import sim
    from bench.experts.workload import QualityTable, SimRequest
    from gateway.routing.placement import RequestView

    expected = round(statistics.fmean(outputs))

    def view(p: int, o: int, _ttft: float | None, tpot: float | None, domain: str | None = None) -> RequestView:
        return RequestView(p, o, None, tpot, deadline_s, domain)

    cloud = sim.CloudProfile(model="cloud-fake", rtt_s=0.05, uplink_bytes_per_s=12.5e6, tpot_s=0.0,
                             call_s=(opts.cloud_delay_s,), source="the testbed's fake cloud: fixed delay")
    rates, p99s, spreads = [], [], []
    namespace = vars(sim)  # the simulator builds its RequestView by this name
    original = namespace["RequestView"]
    namespace["RequestView"] = view
    try:
        for seed in range(opts.sim_seeds):
            rng = random.Random(1000 + seed)
            requests = [
                SimRequest(i, a.t_s, prompt_tokens, rng.choice(outputs), expected, "simple", None, None)
                for i, a in enumerate(arrivals)
            ]
            outcomes, _stats = sim.simulate(requests, profiles, QualityTable({}, "assumed"), policy,
                                            seed, cloud=cloud)
            rates.append(sum(o.total_s > deadline_s for o in outcomes) / max(len(outcomes), 1))
            totals = sorted(o.total_s for o in outcomes)
            p99s.append(totals[min(int(0.99 * len(totals)), len(totals) - 1)])
            spreads.append({t: sum(o.target == t for o in outcomes) for t in {o.target for o in outcomes}})
    finally:
        namespace["RequestView"] = original
    return {
        "policy": policy,
        "seeds": opts.sim_seeds,
        "slo_miss_rate": statistics.fmean(rates),
        "slo_miss_rate_min": min(rates),
        "slo_miss_rate_max": max(rates),
        "p99_s": statistics.fmean(p99s),
        "placements": {k: statistics.fmean(s.get(k, 0) for s in spreads) for k in set().union(*spreads)},
    }
