"""The edge score: the schema guard's verdict plus a *simulated* confidence signal.

The recorded outcomes carry no token log-probabilities, so the confidence is drawn from an equal-
variance binormal model whose AUC (how well it separates right from wrong answers among
schema-valid drafts) is a parameter: latent ``c ~ N(d·y, 1)`` with ``y`` the recorded correctness
and ``d = √2·Φ⁻¹(AUC)``. ``sigmoid(c)`` stands for the draft's mean token probability and goes
through the gateway's own ``gateway.routing.score.score`` (schema gate, then calibration), with an
isotonic calibration (``gateway.routing.calibration.fit_isotonic``) fitted on the calibration
split, as the gateway fits one on logged outcomes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from statistics import NormalDist

import numpy as np
from numpy.typing import NDArray

from gateway.routing.score import DraftFeatures, score


def separation(auc: float) -> float:
    if not 0.5 <= auc < 1.0:
        raise ValueError("AUC must be in [0.5, 1)")
    return math.sqrt(2.0) * NormalDist().inv_cdf(auc)


def draw_confidence(
    correct: NDArray[np.bool_], auc: float, rng: np.random.Generator
) -> NDArray[np.float64]:
    """Simulated mean token probability of each draft, with the given AUC."""
    latent = rng.standard_normal(len(correct)) + separation(auc) * correct
    result: NDArray[np.float64] = 1.0 / (1.0 + np.exp(-latent))
    return result


def confidence_of(
    edge_raw: NDArray[np.float64] | None,
    correct: NDArray[np.bool_],
    auc: float,
    rng: np.random.Generator,
) -> NDArray[np.float64]:
    """The real edge's raw scores when measured (``--edge-outcomes``), else a simulated draw.

    A measured raw score r passes through ``edge_scores`` unchanged: with mean = min = log r the
    gateway's raw score 0.7·r + 0.3·r is r again.
    """
    if edge_raw is not None:
        return edge_raw
    return draw_confidence(correct, auc, rng)


def edge_scores(
    valid: NDArray[np.bool_],
    confidence: NDArray[np.float64],
    n_calls: NDArray[np.int64],
    calibrate: Callable[[float], float] | None,
) -> NDArray[np.float64]:
    """s for each draft, through the gateway's score function."""
    out = np.empty(len(valid))
    for i in range(len(valid)):
        lp = math.log(max(float(confidence[i]), 1e-12))
        features = DraftFeatures(
            schema_valid=bool(valid[i]),
            n_tool_calls=int(n_calls[i]),
            mean_logprob=lp,
            min_logprob=lp,
            n_tokens=0,
        )
        out[i] = score(features, calibrate)
    return out


def auc(scores: NDArray[np.float64], labels: NDArray[np.bool_]) -> float:
    """Mann-Whitney AUC (ties count half)."""
    pos, neg = scores[labels], scores[~labels]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    ranks = np.empty(len(scores))
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = scores[order]
    ranks[order] = np.arange(1, len(scores) + 1)
    # average ranks over ties
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    for start, count in zip(first, counts, strict=True):
        if count > 1:
            ranks[order[start : start + count]] = start + (count + 1) / 2.0
    u = ranks[labels].sum() - len(pos) * (len(pos) + 1) / 2.0
    return float(u / (len(pos) * len(neg)))
