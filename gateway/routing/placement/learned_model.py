"""The learned placement policy, evaluated with numpy only (no torch on the serving path).

A small attention encoder over the eligible experts: each expert is a token of features from
the impact estimator (quality, P(meet SLO), predicted latency against the request's budget,
load, SLO misses and latency it would cause) plus the request's own features; one
self-attention layer lets every expert see the others (how loaded the alternatives are), and a
head scores each expert. The policy picks the highest score. It is trained offline with a
policy gradient in the simulator (``bench/experts/learn.py``, the ``train`` extra) and shipped as
plain weights (``gateway/routing/placement/data/placement_policy.json``).

``load_policy`` is the only function here that reads anything: call it once where the placer
is built and keep the ``LearnedPolicy`` in the ``PolicyState`` (the ``learned`` scorer,
``scorers/learned.py``, asks it to choose).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from gateway.routing.placement.estimator import Estimate
from gateway.routing.placement.views import ExpertView, RequestView

FEATURES: tuple[str, ...] = (
    "quality",
    "p_meet",
    "quality_x_p_meet",
    "meets",
    "added_slo_misses",
    "added_latency_over_budget",
    "total_over_budget",
    "load_over_slots",
    "queued",
    "log1p_load",
    "has_slo",
    "log_output_tokens",
    "ttft_over_slo",
    "tpot_over_slo",
    "log_prompt_tokens",
)
WEIGHTS_RESOURCE = "placement_policy.json"
FORMAT_VERSION = 1

Array = npt.NDArray[np.float64]


def request_budget_s(request: RequestView) -> float:
    """Seconds the request may take end to end, from its SLOs (10 s when it has none)."""
    if request.deadline_s:
        return request.deadline_s
    budget = 0.0
    if request.slo_ttft_s:
        budget += request.slo_ttft_s
    if request.slo_tpot_s:
        budget += max(request.expected_output_tokens - 1, 0) * request.slo_tpot_s
    return budget if budget > 0.0 else 10.0


def features(
    request: RequestView, experts: Sequence[ExpertView], ests: Sequence[Estimate]
) -> list[list[float]]:
    """One feature row per expert, in ``FEATURES`` order and a trailing 1 (shared with training)."""
    budget = request_budget_s(request)
    has_slo = (
        0.0
        if (
            request.slo_ttft_s is None and request.slo_tpot_s is None and request.deadline_s is None
        )
        else 1.0
    )
    log_out = math.log(max(request.expected_output_tokens, 1)) / 5.0
    log_prompt = math.log(max(request.prompt_tokens, 1)) / 7.0
    slo_ttft = request.slo_ttft_s or budget
    slo_tpot = request.slo_tpot_s or budget
    # Written out (tuple unpacking, no min()/attribute calls per field): this runs for every
    # expert on every request; the values are those of FEATURES, in order.
    inv_budget, inv_ttft, inv_tpot = 1.0 / budget, 1.0 / slo_ttft, 1.0 / slo_tpot
    log1p = math.log1p
    rows = []
    for e, est in zip(experts, ests, strict=True):
        ttft, tpot, total, p_meet, meets, added_lat, added_miss, load, queued = est
        q = e.quality
        lat = added_lat * inv_budget
        tot = total * inv_budget
        per_slot = load / (e.slots or 8)
        r_ttft = ttft * inv_ttft
        r_tpot = tpot * inv_tpot
        rows.append(
            [
                q,
                p_meet,
                q * p_meet,
                1.0 if meets else 0.0,
                added_miss,
                lat if lat < 10.0 else 10.0,
                tot if tot < 10.0 else 10.0,
                per_slot if per_slot < 4.0 else 4.0,
                1.0 if queued else 0.0,
                log1p(load),
                has_slo,
                log_out,
                r_ttft if r_ttft < 10.0 else 10.0,
                r_tpot if r_tpot < 10.0 else 10.0,
                log_prompt,
                1.0,  # bias input (not a feature)
            ]
        )
    return rows


class LearnedPolicy:
    """Numpy forward pass of the attention policy; ``scores`` gives one logit per expert.

    Weights (names as exported by training): ``w_in`` (F×d), ``b_in`` (d), ``w_qkv`` (d×3d),
    ``w_out`` (d×d), ``w_h`` (d×d), ``b_h`` (d), ``w_s`` (d), ``b_s`` (scalar), and the input
    normalisation ``mean``/``std`` (F), folded into ``w_in`` at load.
    """

    __slots__ = ("w_in", "m", "w_h", "b_h", "w_s", "b_s", "d", "meta")

    def __init__(self, weights: Mapping[str, Any], meta: Mapping[str, Any] | None = None) -> None:
        mean = np.asarray(weights["mean"], dtype=np.float64)
        std = np.asarray(weights["std"], dtype=np.float64)
        w_in = np.asarray(weights["w_in"], dtype=np.float64)
        if w_in.shape[0] != len(FEATURES) or mean.shape != (len(FEATURES),):
            raise ValueError(
                f"placement policy weights expect {w_in.shape[0]} features, code has {len(FEATURES)}"
            )
        # Folded at load so the forward pass is a handful of small matmuls: the input
        # normalisation and bias into w_in (rows carry a trailing 1), the attention's
        # q·kᵀ = h·(Wq·Wkᵀ)·hᵀ and its value/output projections into one matrix m = [A | Wv·Wo].
        b_in = np.asarray(weights["b_in"], dtype=np.float64) - (mean / std) @ w_in
        self.w_in = np.vstack([w_in / std[:, None], b_in[None, :]])
        w_qkv = np.asarray(weights["w_qkv"], dtype=np.float64)
        self.d = d = w_in.shape[1]
        a = (w_qkv[:, :d] / math.sqrt(d)) @ w_qkv[:, d : 2 * d].T
        vo = w_qkv[:, 2 * d :] @ np.asarray(weights["w_out"], dtype=np.float64)
        self.m = np.hstack([a, vo])
        self.w_h = np.asarray(weights["w_h"], dtype=np.float64)
        self.b_h = np.asarray(weights["b_h"], dtype=np.float64)
        self.w_s = np.asarray(weights["w_s"], dtype=np.float64)
        self.b_s = float(weights["b_s"])
        self.meta = dict(meta or {})

    def _logits(self, rows: Sequence[Sequence[float]]) -> Array:
        """Scores less the constant ``b_s`` (enough to choose)."""
        x = np.array(rows, dtype=np.float64)
        h = x @ self.w_in
        np.maximum(h, 0.0, out=h)
        hm = h @ self.m
        d = self.d
        att = hm[:, :d] @ h.T
        att -= att.max()  # one constant for all rows: softmax per row is unchanged
        np.exp(att, out=att)
        att /= att.sum(axis=1, keepdims=True)
        z = att @ hm[:, d:]
        z += h
        z2 = z @ self.w_h
        z2 += self.b_h
        np.maximum(z2, 0.0, out=z2)
        out: Array = z2 @ self.w_s
        return out

    def scores(self, rows: Sequence[Sequence[float]]) -> Array:
        """One logit per expert; ``rows`` from ``features`` (one per expert)."""
        out: Array = self._logits(rows) + self.b_s
        return out

    def choose(
        self, request: RequestView, experts: Sequence[ExpertView], ests: Sequence[Estimate]
    ) -> int:
        if len(experts) == 1:
            return 0
        return int(np.argmax(self._logits(features(request, experts, ests))))


def policy_from_json(text: str) -> LearnedPolicy:
    doc = json.loads(text)
    if doc.get("format") != FORMAT_VERSION or list(doc.get("features", [])) != list(FEATURES):
        raise ValueError(
            "placement policy weights do not match this code's features; retrain with "
            "`python -m bench.experts.learn`"
        )
    return LearnedPolicy(doc["weights"], doc.get("meta"))


def load_policy(path: Path | None = None) -> LearnedPolicy:
    """The shipped weights (or those at ``path``). Reads a file: call it once at start-up."""
    if path is not None:
        return policy_from_json(path.read_text(encoding="utf-8"))
    data = resources.files("gateway.routing.placement.data")
    text = data.joinpath(WEIGHTS_RESOURCE).read_text("utf-8")
    return policy_from_json(text)
