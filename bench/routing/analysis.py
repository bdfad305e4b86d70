"""Frontier comparisons and the checks of the paper's qualitative claims.

Between two operating points a router can mix (send a share of requests under each), so the
best cost at a given accuracy is the lower envelope of the linear interpolations between points:
``best_cost_at`` computes it for a sweep. "Dynamic dominates fixed" is judged at the same
accuracies on those envelopes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from bench.routing.simulate import Metrics

Curve = Sequence[tuple[float, Metrics]]


def best_cost_at(accuracy: float, points: Sequence[tuple[float, float]]) -> float:
    """Least cost reaching ``accuracy`` by one point or a mix of two; inf if out of reach."""
    best = math.inf
    for a1, c1 in points:
        if a1 >= accuracy:
            best = min(best, c1)
        for a2, c2 in points:
            if a1 < accuracy < a2:
                w = (accuracy - a1) / (a2 - a1)
                best = min(best, (1 - w) * c1 + w * c2)
    return best


@dataclass(frozen=True)
class Saving:
    accuracy: float
    fixed_spend: float
    dynamic_spend: float
    fixed_latency: float
    dynamic_latency: float

    @property
    def spend_saved(self) -> float:
        return self.fixed_spend - self.dynamic_spend

    @property
    def latency_saved(self) -> float:
        return self.fixed_latency - self.dynamic_latency


def savings(
    fixed: Curve, dynamic: Curve, levels: Sequence[float] = (0.25, 0.5, 0.75)
) -> list[Saving]:
    """Spend and latency of the best fixed vs the best dynamic at equal accuracies.

    Accuracies are taken at ``levels`` of the way between the lowest accuracy both reach and
    the highest both reach.
    """
    fa = [m.accuracy for _, m in fixed]
    da = [m.accuracy for _, m in dynamic]
    lo, hi = max(min(fa), min(da)), min(max(fa), max(da))
    out = []
    for level in levels:
        acc = lo + level * (hi - lo)
        out.append(
            Saving(
                acc,
                best_cost_at(acc, [(m.accuracy, m.spend_per_1k) for _, m in fixed]),
                best_cost_at(acc, [(m.accuracy, m.spend_per_1k) for _, m in dynamic]),
                best_cost_at(acc, [(m.accuracy, m.latency_s) for _, m in fixed]),
                best_cost_at(acc, [(m.accuracy, m.latency_s) for _, m in dynamic]),
            )
        )
    return out


def verdict(rows: Sequence[Saving], rel_tol: float = 0.01) -> str:
    """'dominates', 'trade-off' or 'does not dominate', judged on spend and latency together."""

    def better(saved: float, base: float) -> int:
        if saved > rel_tol * abs(base):
            return 1
        if saved < -rel_tol * abs(base):
            return -1
        return 0

    spend = [better(r.spend_saved, r.fixed_spend) for r in rows]
    latency = [better(r.latency_saved, r.fixed_latency) for r in rows]
    if min(spend + latency) >= 0 and max(spend + latency) > 0:
        return "dominates"
    if max(spend + latency) > 0:
        return "trade-off"
    return "does not dominate"


@dataclass(frozen=True)
class Smoothness:
    monotone_violations: int  # steps where accuracy rises while spend falls (or the reverse)
    largest_step: float  # largest accuracy jump between neighbouring λ, share of the range
    on_upper_hull: float  # share of points on the concave upper hull of accuracy vs spend


def smoothness(curve: Curve) -> Smoothness:
    acc = np.array([m.accuracy for _, m in curve])
    spend = np.array([m.spend_per_1k for _, m in curve])
    d_acc, d_spend = np.diff(acc), np.diff(spend)
    violations = int(np.sum(d_acc * d_spend < -1e-9))
    span = acc.max() - acc.min()
    largest = float(np.abs(d_acc).max() / span) if span > 0 else 0.0
    order = np.argsort(spend)
    hull = _upper_hull(spend[order], acc[order])
    return Smoothness(violations, largest, len(hull) / len(curve))


def _upper_hull(x: NDArray[np.float64], y: NDArray[np.float64]) -> list[int]:
    hull: list[int] = []
    for i in range(len(x)):
        while len(hull) >= 2:
            a, b = hull[-2], hull[-1]
            cross = (x[b] - x[a]) * (y[i] - y[a]) - (y[b] - y[a]) * (x[i] - x[a])
            if cross >= -1e-12:
                hull.pop()
            else:
                break
        hull.append(i)
    return hull


def monotonicity_violations(
    rtt: NDArray[np.float64], bw: NDArray[np.float64], tau: NDArray[np.float64]
) -> tuple[int, int]:
    """(violating pairs, comparable pairs): worse network on both axes but a higher τ."""
    worse = (rtt[:, None] >= rtt[None, :]) & (bw[:, None] <= bw[None, :])
    np.fill_diagonal(worse, False)
    higher = tau[:, None] > tau[None, :] + 1e-12
    return int(np.sum(worse & higher)), int(np.sum(worse))


def spearman(x: NDArray[np.float64], y: NDArray[np.float64]) -> float:
    rx = np.argsort(np.argsort(x)).astype(float)
    ry = np.argsort(np.argsort(y)).astype(float)
    if rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


def share_by_bins(
    values: NDArray[np.float64], routes: NDArray[np.float64], n_bins: int = 5
) -> list[tuple[float, float, float]]:
    """(bin low, bin high, cloud share) over quantile bins of ``values``."""
    edges = np.unique(np.quantile(values, np.linspace(0, 1, n_bins + 1)))
    out = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        mask = (values >= lo) & (values <= hi)
        if mask.any():
            out.append((float(lo), float(hi), float(routes[mask].mean())))
    return out
