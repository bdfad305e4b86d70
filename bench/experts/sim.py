"""Discrete-event simulator of several edge experts (and the cloud) behind the gateway's placement.

Each expert runs up to ``slots`` requests at once (continuous batching) and queues the rest
FIFO. A running request is in prefill (its prompt) or decode (one token at a time); its speed
depends on how many requests run beside it (``ExpertProfile``: interference) and on its own
noise. Rates are piecewise constant between events (an arrival or a phase ending), so the
simulation is exact for that model.

The gateway side is the real code: every arrival builds ``ExpertView``s from what the gateway
would know (its own exact in-flight counts; server gauges refreshed every
``SCRAPE_INTERVAL_S``; per-request remaining tokens and SLO slack of what it has in flight) and
calls ``gateway.routing.placement.place`` with the policy under test, then ``cloud_wins`` with
the cloud's network-aware estimate. Each expert's ``LatencyModel`` starts from its profile's
linear prior and learns online from the requests that did not queue, as the gateway would.
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from bench.experts.profiles import ExpertProfile
from bench.experts.recorded import Answers
from bench.experts.workload import QualityTable, SimRequest
from gateway.routing.placement import (
    ExpertView,
    InFlight,
    LatencyModel,
    Placement,
    PolicyState,
    RequestView,
    cloud_wins,
    place,
    remaining_tokens,
)

SCRAPE_INTERVAL_S = 0.05  # the endpoint picker's polling interval (SEEDS.md)
_EPS = 1e-9


@dataclass(frozen=True, slots=True)
class CloudProfile:
    """The cloud as a candidate: network cost plus its own time to answer.

    ``call_s``: times of whole short tool calls to the cloud model — the recorded BFCL latencies
    of gpt-4o-2024-08-06-FC when the data is there (``outcomes/``), else an assumed lognormal
    (median 0.9 s); a call's first token is taken to arrive after one such time, further
    tokens at ``tpot_s``. The gateway's estimate uses the median.
    """

    model: str = "gpt-4o-2024-08-06-FC"
    rtt_s: float = 0.06
    uplink_bytes_per_s: float = 2.5e6  # 20 Mbit/s
    bytes_per_token: float = 4.0
    tpot_s: float = 0.012
    call_s: tuple[float, ...] = ()
    source: str = "assumed lognormal call time (median 0.9 s, sigma 0.6)"

    def network_s(self, prompt_tokens: int) -> float:
        return self.rtt_s + prompt_tokens * self.bytes_per_token / self.uplink_bytes_per_s

    def median_call_s(self) -> float:
        if not self.call_s:
            return 0.9
        s = sorted(self.call_s)
        return s[len(s) // 2]

    def estimate(self, prompt_tokens: int, output_tokens: int) -> tuple[float, float]:
        """(ttft, total) the gateway's network-aware estimate gives."""
        ttft = self.network_s(prompt_tokens) + self.median_call_s()
        return ttft, ttft + max(output_tokens - 1, 0) * self.tpot_s

    def sample(
        self, rng: random.Random, prompt_tokens: int, output_tokens: int,
        call_s: float | None = None,
    ) -> tuple[float, float]:
        """(ttft, total) of one simulated call; ``call_s``: the recorded time of this very
        request (a replay), else one drawn."""
        call = rng.choice(self.call_s) if self.call_s else rng.lognormvariate(math.log(0.9), 0.6)
        call = call if call_s is None else call_s
        ttft = self.network_s(prompt_tokens) + call
        return ttft, ttft + max(output_tokens - 1, 0) * self.tpot_s


@dataclass(slots=True)
class Outcome:
    rid: int
    target: str  # expert name or "cloud"
    ttft_s: float
    total_s: float
    met: bool
    qos: float
    predicted_total_s: float
    quality: float = 0.0  # what was delivered, SLO aside (replays: 1 right, 0 wrong)
    tokens_in: int = 0  # the cloud's recorded token counts for the request (replays)
    tokens_out: int = 0


class Observer(Protocol):
    def decided(
        self, request: SimRequest, placement: Placement, running: Sequence[int]
    ) -> None: ...

    def finished(self, outcome: Outcome) -> None: ...


@dataclass(slots=True, eq=False)
class _Job:
    req: SimRequest
    quality: float  # what the answer is worth: the recorded outcome, else the belief
    noise: float
    predicted_total: float
    queued: bool
    prefill: bool = True
    work: float = 0.0
    rate: float = 1.0
    conc: int = 1
    first_token: float = -1.0


@dataclass(slots=True, eq=False)
class _Expert:
    profile: ExpertProfile
    model: LatencyModel
    running: list[_Job] = field(default_factory=list)
    queue: deque[_Job] = field(default_factory=deque)
    last_t: float = 0.0
    next_t: float = math.inf
    next_job: _Job | None = None
    gauges: tuple[float, float, float | None] = (0.0, 0.0, None)
    busy_integral: float = 0.0

    def advance(self, t: float) -> None:
        dt = t - self.last_t
        if dt > 0.0:
            for j in self.running:
                j.work -= j.rate * dt
            self.busy_integral += dt * len(self.running)
        self.last_t = t

    def reschedule(self) -> None:
        p = self.profile
        n = len(self.running)
        if n == 0:
            self.next_t, self.next_job = math.inf, None
            return
        n_pf = sum(1 for j in self.running if j.prefill)
        prefill_tok_s = 1000.0 / (p.prefill_s_per_1k * p.prefill_factor(n))
        tpot = p.tpot_s * p.tpot_factor(n)
        best, best_j = math.inf, None
        for j in self.running:
            if j.prefill:
                j.rate = prefill_tok_s / j.noise
            else:
                stall = 1.0 + p.prefill_stall if n_pf > 0 else 1.0
                j.rate = 1.0 / (tpot * stall * j.noise)
            due = j.work / j.rate
            if due < best:
                best, best_j = due, j
        self.next_t, self.next_job = self.last_t + best, best_j

    def start(self, job: _Job, t: float) -> None:
        p = self.profile
        job.prefill = True
        job.work = job.req.prompt_tokens + p.ttft_s * 1000.0 / p.prefill_s_per_1k
        job.conc = len(self.running) + 1
        job.queued = job.queued or t > job.req.arrival + _EPS
        self.running.append(job)

    def kv_usage(self) -> float | None:
        cap = self.profile.kv_capacity_tokens
        if self.profile.flavor != "vllm" or not cap:
            return None
        used = 0.0
        for j in self.running:
            done = 0.0 if j.prefill else max(j.req.output_tokens - 1 - j.work, 0.0)
            used += j.req.prompt_tokens + done
        return min(used / cap, 1.0)


def _budget(req: SimRequest) -> float | None:
    """Seconds the request may take end to end (None: no SLO)."""
    if req.slo_ttft_s is None and req.slo_tpot_s is None:
        return req.deadline_s
    b = (req.slo_ttft_s or 0.0) + (req.slo_tpot_s or 0.0) * max(req.expected_output_tokens - 1, 0)
    return b if req.deadline_s is None else min(b, req.deadline_s)


def _slack(j: _Job, t: float) -> float | None:
    """Seconds before the running request misses: its TTFT budget until the first token, then
    its TPOT budget over the expected output counted from the first token."""
    req = j.req
    if j.prefill or req.slo_tpot_s is None or req.deadline_s is not None:
        b = _budget(req)
        return None if b is None else req.arrival + b - t
    return j.first_token + req.slo_tpot_s * max(req.expected_output_tokens - 1, 0) - t


def _met(req: SimRequest, ttft: float, total: float) -> bool:
    if req.slo_ttft_s is not None and ttft > req.slo_ttft_s:
        return False
    if req.deadline_s is not None and total > req.deadline_s:
        return False
    if req.slo_tpot_s is not None and req.output_tokens > 1:
        return (total - ttft) / (req.output_tokens - 1) <= req.slo_tpot_s
    return True


def simulate(
    requests: Sequence[SimRequest],
    profiles: Sequence[ExpertProfile],
    qualities: QualityTable,
    policy: str,
    seed: int,
    state: PolicyState | None = None,
    cloud: CloudProfile | None = None,
    observer: Observer | None = None,
    answers: Answers | None = None,
) -> tuple[list[Outcome], dict[str, float]]:
    """Run one workload under one policy; returns per-request outcomes and per-expert stats.

    ``answers``: the models' recorded per-request outcomes (``bench.experts.recorded``); where
    one exists for a request's BFCL item, it decides whether the answer was right (and, for the
    cloud, its call time and tokens); else the quality table's per-category value does."""
    rng = random.Random(seed)
    cloud = cloud or CloudProfile()
    state = state or PolicyState()
    experts = [_Expert(p, LatencyModel(p.prior())) for p in profiles]
    models = {e.profile.name: e.model for e in experts}
    by_name = {e.profile.name: e for e in experts}
    outcomes: list[Outcome] = []
    next_scrape = 0.0
    wants_flights = policy in ("best_fit", "impact", "learned")

    def finish(e: _Expert, j: _Job, t: float) -> None:
        req = j.req
        ttft = j.first_token - req.arrival
        total = t - req.arrival
        met = _met(req, ttft, total)
        out = Outcome(
            req.rid, e.profile.name, ttft, total, met, j.quality if met else 0.0, j.predicted_total,
            j.quality,
        )
        outcomes.append(out)
        if not j.queued:
            e.model.observe(j.conc, req.prompt_tokens, req.output_tokens, ttft, total)
        if observer is not None:
            observer.finished(out)

    def complete(e: _Expert, t: float) -> None:
        e.advance(t)
        assert e.next_job is not None
        e.next_job.work = 0.0
        for j in [j for j in e.running if j.work <= _EPS]:
            if j.prefill:
                j.prefill = False
                j.first_token = t
                j.work = float(j.req.output_tokens - 1)
                if j.work > _EPS:
                    continue
            e.running.remove(j)
            finish(e, j, t)
        while e.queue and len(e.running) < e.profile.slots:
            e.start(e.queue.popleft(), t)
        e.reschedule()

    for req in requests:
        t = req.arrival
        while True:  # every phase end before this arrival
            e_min = min(experts, key=lambda x: x.next_t)
            if e_min.next_t > t:
                break
            complete(e_min, e_min.next_t)
        for e in experts:
            e.advance(t)
        if t >= next_scrape:
            for e in experts:
                e.gauges = (float(len(e.running)), float(len(e.queue)), e.kv_usage())
            next_scrape = t + SCRAPE_INTERVAL_S
        views = []
        flights: dict[str, list[InFlight]] | None = {} if wants_flights else None
        for e in experts:
            p = e.profile
            views.append(
                ExpertView(
                    name=p.name,
                    quality=qualities.get(p.model, req.rtype, p.quality_offset),
                    in_flight=len(e.running) + len(e.queue),
                    running=e.gauges[0],
                    waiting=e.gauges[1],
                    kv_usage=e.gauges[2],
                    slots=p.slots,
                    context_limit=p.context_limit,
                )
            )
            if flights is not None:
                fl = []
                for j in e.running:
                    done = 0.0 if j.prefill else j.req.output_tokens - 1 - j.work
                    fl.append(
                        InFlight(remaining_tokens(j.req.expected_output_tokens, done), _slack(j, t))
                    )
                flights[p.name] = fl
        rv = RequestView(
            req.prompt_tokens,
            req.expected_output_tokens,
            req.slo_ttft_s,
            req.slo_tpot_s,
            domain=req.rtype,
            **({} if req.deadline_s is None else {"deadline_s": req.deadline_s}),
        )
        placement = place(rv, views, models, policy, state, flights)
        c_ttft, c_total = cloud.estimate(req.prompt_tokens, req.expected_output_tokens)
        if observer is not None:
            observer.decided(req, placement, [len(e.running) for e in experts])
        if cloud_wins(placement, c_total, rv, c_ttft):
            rec = answers.get(cloud.model, req.prompt_id) if answers is not None else None
            ttft, total = cloud.sample(rng, req.prompt_tokens, req.output_tokens,
                                       rec.latency_s if rec is not None else None)
            met = _met(req, ttft, total)
            q = float(rec.correct) if rec is not None else qualities.get(cloud.model, req.rtype)
            out = Outcome(req.rid, "cloud", ttft, total, met, q if met else 0.0, c_total, q,
                          (rec.input_tokens or 0) if rec else 0,
                          (rec.output_tokens or 0) if rec else 0)
            outcomes.append(out)
            if observer is not None:
                observer.finished(out)
            continue
        assert placement.expert is not None
        e = by_name[placement.expert]
        job = _Job(
            req,
            placement.quality
            if answers is None
            else answers.quality(e.profile.model, req, placement.quality),
            math.exp(rng.gauss(0.0, e.profile.noise_sigma)),
            placement.predicted_total_s,
            queued=False,
        )
        if len(e.running) < e.profile.slots:
            e.start(job, t)
            e.reschedule()
        else:
            job.queued = True
            e.queue.append(job)
    while True:
        e_min = min(experts, key=lambda x: x.next_t)
        if math.isinf(e_min.next_t):
            break
        complete(e_min, e_min.next_t)
    end = max(
        (
            o.total_s + r.arrival
            for o, r in zip(sorted(outcomes, key=lambda o: o.rid), requests, strict=True)
        ),
        default=1.0,
    )
    stats = {f"busy_{e.profile.name}": e.busy_integral / (end * e.profile.slots) for e in experts}
    stats.update({f"mape_{e.profile.name}": e.model.mape for e in experts})
    return outcomes, stats
