"""AUC with a bootstrap confidence interval, ROC points, calibration on a separate split.

All functions are pure numpy. The AUC is the Mann-Whitney statistic with ties counted half (the
probability that a random right draft scores above a random wrong one); the interval is the
percentile bootstrap over requests (resampled with replacement, draws with one class only are
skipped).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from gateway.routing.calibration import fit_isotonic

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]


def auc(scores: FloatArray, labels: BoolArray) -> float:
    """Mann-Whitney AUC, ties half; nan when a class is empty."""
    pos = np.asarray(scores)[labels]
    neg = np.sort(np.asarray(scores)[~labels])
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    below = np.searchsorted(neg, pos, side="left")
    at_or_below = np.searchsorted(neg, pos, side="right")
    return float((below + 0.5 * (at_or_below - below)).sum() / (len(pos) * len(neg)))


@dataclass(frozen=True)
class AucCI:
    auc: float
    low: float
    high: float
    n: int
    n_pos: int

    def text(self) -> str:
        if math.isnan(self.auc):
            return "n/a"
        return f"{self.auc:.3f} [{self.low:.3f}, {self.high:.3f}]"


def auc_ci(
    scores: FloatArray,
    labels: BoolArray,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> AucCI:
    """AUC and its percentile-bootstrap interval."""
    scores = np.asarray(scores, dtype=float)
    labels = np.asarray(labels, dtype=bool)
    point = auc(scores, labels)
    n, n_pos = len(labels), int(labels.sum())
    if math.isnan(point):
        return AucCI(point, float("nan"), float("nan"), n, n_pos)
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n_boot):
        idx = rng.integers(0, n, n)
        lab = labels[idx]
        if lab.all() or not lab.any():
            continue
        draws.append(auc(scores[idx], lab))
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(draws, [alpha, 1.0 - alpha])
    return AucCI(point, float(low), float(high), n, n_pos)


def roc_points(scores: FloatArray, labels: BoolArray) -> tuple[FloatArray, FloatArray]:
    """(false-positive rate, true-positive rate) at every distinct threshold, from (0,0) to (1,1)."""
    scores = np.asarray(scores, dtype=float)
    finite = scores[np.isfinite(scores)]
    floor = (finite.min() if len(finite) else 0.0) - 1.0
    scores = np.where(np.isfinite(scores), scores, floor)  # missing (-inf) ranks lowest, tied
    order = np.argsort(-scores, kind="mergesort")
    s, y = scores[order], np.asarray(labels)[order]
    distinct = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tps = np.cumsum(y)[distinct]
    fps = (distinct + 1) - tps
    p, n = max(int(y.sum()), 1), max(int((~y).sum()), 1)
    return np.r_[0.0, fps / n], np.r_[0.0, tps / p]


def proportion_ci(k: int, n: int, z: float = 1.96) -> tuple[float, float, float]:
    """(share, low, high): Wilson score interval."""
    if n == 0:
        return float("nan"), float("nan"), float("nan")
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return p, max(0.0, centre - half), min(1.0, centre + half)


def split_mask(categories: list[str], seed: int, share: float = 0.5) -> BoolArray:
    """True for the calibration half, stratified by category (the rest is evaluated)."""
    rng = np.random.default_rng(seed)
    cats = np.asarray(categories)
    mask = np.zeros(len(cats), dtype=bool)
    for category in sorted(set(categories)):
        idx = np.flatnonzero(cats == category)
        rng.shuffle(idx)
        mask[idx[: int(round(len(idx) * share))]] = True
    return mask


def calibrated_scores(
    raw: FloatArray, valid: BoolArray, labels: BoolArray, fit_on: BoolArray
) -> FloatArray:
    """The gateway's score with an isotonic calibration fitted on ``fit_on`` rows only.

    As the gateway: an invalid draft scores 0; a valid one gets calibrate(raw).
    """
    ok = fit_on & valid
    if not ok.any():
        return np.where(valid, raw, 0.0)
    cal = fit_isotonic(raw[ok].tolist(), labels[ok].tolist())
    return np.array([cal(float(r)) if v else 0.0 for r, v in zip(raw, valid, strict=True)])
