"""Action impact estimator: what placing a request on an expert does to it and to the others.

For a candidate expert with ``load`` requests on it (the gateway's exact in-flight count, or the
server's running + waiting gauges when they are fresh and larger):

- if a slot is free, the request runs at once at concurrency ``c = load + 1``: its TTFT is
  ``ttft(c, p)`` and every token takes ``tpot(c)``. Each request already running is slowed by
  ``tpot(c) − tpot(c−1)`` per token it still shares with the new one (interference) and by the
  new request's prefill (one batch step that carries the new prompt);
- if every slot is busy it waits for one and slows nobody already running (FIFO): with the
  requests in flight known, until the (queued + 1)-th shortest remaining one ends
  (``slot_wait_s``); otherwise ``(queued + ½)·S/slots`` with ``S`` the predicted service time at
  full concurrency (``queue_wait_s``).

An SLO miss is scored as a probability: ``P(miss) = σ(1.7·(t − slack)/(err·t))`` with ``err``
the latency model's recent relative error (at least ``MIN_REL_ERR``), the logistic
approximation of a normal error. ``added_slo_misses`` is the sum over requests in flight of
``P(miss after) − P(miss before)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

from gateway.routing.placement.latency_model import MIN_TPOT_S, MIN_TTFT_S, LatencyModel
from gateway.routing.placement.views import ExpertView, InFlight, RequestView

MIN_REL_ERR = 0.1  # the model is never trusted to better than ±10%
_LOGIT = 1.7  # logistic slope that matches a standard normal CDF


class Estimate(NamedTuple):
    ttft_s: float
    tpot_s: float
    total_s: float
    p_meet: float  # P(this request meets all its SLOs) on this expert
    meets: bool  # point predictions within every SLO
    added_latency_s: float
    added_slo_misses: float
    load: float  # requests on the expert before this one
    queued: bool  # would wait for a slot


def effective_load(expert: ExpertView) -> float:
    """Requests on the expert now: exact in-flight count, raised by fresh server gauges.

    The server's gauges also count other clients' requests; the gateway's own count has no lag.
    Stale gauges are ignored.
    """
    load = float(expert.in_flight)
    if not expert.stale and (expert.running is not None or expert.waiting is not None):
        gauges = (expert.running or 0.0) + (expert.waiting or 0.0)
        if gauges > load:
            load = gauges
    return load


def headroom(request: RequestView, est: Estimate) -> float | None:
    """Smallest relative slack of ``est`` over the request's SLOs; None when it has none.

    >>> est = Estimate(0.5, 0.02, 2.0, 1.0, True, 0.0, 0.0, 0.0, False)
    >>> headroom(RequestView(100, 10, slo_ttft_s=1.0, deadline_s=4.0), est)
    0.5
    """
    rooms = []
    if request.slo_ttft_s:
        rooms.append((request.slo_ttft_s - est.ttft_s) / request.slo_ttft_s)
    if request.slo_tpot_s and request.expected_output_tokens > 1:
        rooms.append((request.slo_tpot_s - est.tpot_s) / request.slo_tpot_s)
    if request.deadline_s:
        rooms.append((request.deadline_s - est.total_s) / request.deadline_s)
    return min(rooms) if rooms else None


def headrooms(request: RequestView, ests: Sequence[Estimate]) -> list[float] | None:
    """``headroom`` of each estimate (the same figures), or None when the request has no SLO."""
    ttft, tpot, total = request.slo_ttft_s, request.slo_tpot_s, request.deadline_s
    if not tpot or request.expected_output_tokens <= 1:
        tpot = None
    if not (ttft or tpot or total):
        return None
    out = []
    for est in ests:
        room = 1e308
        if ttft:
            room = (ttft - est.ttft_s) / ttft
        if tpot:
            r = (tpot - est.tpot_s) / tpot
            if r < room:
                room = r
        if total:
            r = (total - est.total_s) / total
            if r < room:
                room = r
        out.append(room)
    return out


def queue_wait_s(load: float, slots: int | None, service_s: float) -> float:
    """Expected wait for a free slot with ``load`` requests on ``slots`` slots (0 if one is free)."""
    if slots is None or slots <= 0 or load < slots:
        return 0.0
    return (load - slots + 0.5) * service_s / slots


def remaining_tokens(expected_output_tokens: float, generated_tokens: float) -> float:
    """Output tokens a running request still has to produce, for ``InFlight``.

    The expected length minus what it produced; once a request has outrun its expectation,
    half of what it produced (output lengths are heavy-tailed: a long answer tends to go on).
    """
    left = expected_output_tokens - generated_tokens
    half = 0.5 * generated_tokens
    return max(left, half, 1.0)


def slot_wait_s(load: float, slots: int, in_flight: Sequence[InFlight], tpot_s: float) -> float:
    """Wait for a slot from the remaining work of the requests in flight.

    With ``q = load − slots`` requests queued ahead, this one starts when the (q+1)-th of the
    running requests finishes; past one round of all of them, each further round adds their
    mean remaining time.
    """
    rem = sorted(f.remaining_tokens for f in in_flight)[:slots]
    ahead = int(load) - slots
    rounds, k = divmod(max(ahead, 0), len(rem))
    mean = sum(rem) / len(rem)
    return (rem[k] + rounds * mean) * tpot_s


def p_within(predicted: float, limit: float, rel_err: float, scale: float | None = None) -> float:
    """P(actual ≤ limit) when the actual is the prediction with relative error ``rel_err``.

    ``scale`` (seconds) overrides ``rel_err·predicted`` as the error's size, so that two
    predictions of one request compare on one scale (then P falls as the prediction grows).
    """
    sd = scale if scale is not None else rel_err * predicted
    z = _LOGIT * (limit - predicted) / (sd + 1e-9)
    if z > 30.0:
        return 1.0
    if z < -30.0:
        return 0.0
    return 1.0 / (1.0 + math.exp(-z))


def estimate(
    request: RequestView,
    expert: ExpertView,
    model: LatencyModel,
    in_flight: Sequence[InFlight] | None = None,
) -> Estimate:
    """Predicted latency of ``request`` on ``expert`` and its impact on the requests there.

    On the request path for every expert: three steps written out (no helper calls per
    in-flight request) to stay within a few microseconds; ``LatencyModel.ttft``/``tpot`` give
    the same figures.
    """
    o = request.expected_output_tokens
    out_left = o - 1 if o > 1 else 0
    pk = request.prompt_tokens * 1e-3
    load = float(expert.in_flight)
    if not expert.stale and (expert.running is not None or expert.waiting is not None):
        gauges = (expert.running or 0.0) + (expert.waiting or 0.0)
        if gauges > load:
            load = gauges
    slots = expert.slots
    queued = slots is not None and slots > 0 and load >= slots
    extra = (float(slots) if queued and slots is not None else load + 1.0) - 1.0
    ttft, tpot = _latency(model.theta, pk, extra, load, slots, queued, in_flight, out_left)
    total = ttft + out_left * tpot
    rel = model.recent_mape if model.recent_mape > MIN_REL_ERR else MIN_REL_ERR
    k = _LOGIT / rel
    p_meet, meets = _slo(request, ttft, tpot, total, k)
    added_latency = added_misses = 0.0
    if not queued and load > 0.0:
        added_latency, added_misses = _impact(model.theta, pk, extra, load, slots, o, tpot, k, in_flight)
    return Estimate(ttft, tpot, total, p_meet, meets, added_latency, added_misses, load, queued)


def _latency(
    theta: tuple[float, ...], pk: float, extra: float, load: float, slots: int | None,
    queued: bool, in_flight: Sequence[InFlight] | None, out_left: int,
) -> tuple[float, float]:
    """(TTFT, TPOT) with ``extra`` other requests sharing the expert, plus the slot wait."""
    t0, t1, t2, t3, f0, f1 = theta
    tpot = f0 + f1 * extra
    if tpot < MIN_TPOT_S:
        tpot = MIN_TPOT_S
    ttft = t0 + t1 * pk + extra * (t2 + t3 * pk)
    if ttft < MIN_TTFT_S:
        ttft = MIN_TTFT_S
    if queued and slots is not None:
        if in_flight:
            ttft += slot_wait_s(load, slots, in_flight, tpot)
        else:
            ttft += queue_wait_s(load, slots, ttft + out_left * tpot)
    return ttft, tpot


def _slo(request: RequestView, ttft: float, tpot: float, total: float, k: float) -> tuple[float, bool]:
    """(P(every objective met), whether the point estimate meets them)."""
    meets = True
    p_meet = 1.0
    exp = math.exp
    limit = request.slo_ttft_s
    if limit is not None:
        meets = ttft <= limit
        z = (limit - ttft) * k / ttft
        p_meet = (1.0 / (1.0 + exp(-z)) if z > -30.0 else 0.0) if z < 30.0 else 1.0
    limit = request.slo_tpot_s
    if limit is not None and request.expected_output_tokens > 1:
        meets = meets and tpot <= limit
        z = (limit - tpot) * k / tpot
        p_meet *= (1.0 / (1.0 + exp(-z)) if z > -30.0 else 0.0) if z < 30.0 else 1.0
    limit = request.deadline_s
    if limit is not None:
        meets = meets and total <= limit
        z = (limit - total) * k / total
        p_meet *= (1.0 / (1.0 + exp(-z)) if z > -30.0 else 0.0) if z < 30.0 else 1.0
    return p_meet, meets


def _impact(
    theta: tuple[float, ...], pk: float, extra: float, load: float, slots: int | None, o: int,
    tpot: float, k: float, in_flight: Sequence[InFlight] | None,
) -> tuple[float, float]:
    """(latency added to the requests already there, expected SLO misses added among them)."""
    _t0, t1, _t2, _t3, f0, f1 = theta
    tpot_before = f0 + f1 * (extra - 1.0)
    if tpot_before < MIN_TPOT_S:
        tpot_before = MIN_TPOT_S
    d_tpot = tpot - tpot_before
    if d_tpot < 0.0:
        d_tpot = 0.0
    stall = t1 * pk  # the new prompt's prefill step, alone
    if stall < 0.0:
        stall = 0.0
    if in_flight is None:
        # No per-request detail: each running request is assumed to have half this
        # request's output left; SLO misses cannot be scored without their slack.
        running = min(load, float(slots)) if slots else load
        return running * (0.5 * o * d_tpot + stall), 0.0
    added_latency = added_misses = 0.0
    exp = math.exp
    for f in in_flight:
        r = f.remaining_tokens
        added = (r if r < o else o) * d_tpot + stall
        added_latency += added
        s = f.slack_s
        if s is None or s <= 0.0:
            continue
        before = r * tpot_before
        scale = k / (before if before > 1e-3 else 1e-3)
        z0 = (s - before) * scale
        z1 = z0 - added * scale
        if z1 >= 8.0 or z0 <= -8.0:
            continue  # surely met either way, or surely missed already: no change
        p0 = 1.0 / (1.0 + exp(-z0)) if z0 < 30.0 else 1.0
        p1 = 1.0 / (1.0 + exp(-z1)) if z1 > -30.0 else 0.0
        added_misses += p0 - p1
    return added_latency, added_misses
