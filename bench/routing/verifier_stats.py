"""Out-of-sample scores and the routing frontier for the verifier benchmark.

- ``oof_scores``: repeated stratified k-fold by request; each request's score is the mean of
  the scores it got from the models that never saw it (one per repeat). No request is ever
  scored by a model fitted on it.
- ``frontier``: send the ``k`` lowest-scored requests to the cloud, for every ``k``; the
  end-to-end accuracy takes the cloud's recorded verdict where it answers and the edge's
  elsewhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from gateway.routing.verifier import FEATURE_NAMES, VerifierModel, fit

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]


def stratified_folds(labels: BoolArray, k: int, rng: np.random.Generator) -> list[NDArray[np.intp]]:
    """``k`` disjoint index sets covering all rows, each class spread evenly over them."""
    folds: list[list[int]] = [[] for _ in range(k)]
    for cls in (False, True):
        idx = rng.permutation(np.flatnonzero(labels == cls))
        for j, i in enumerate(idx):
            folds[j % k].append(int(i))
    return [np.array(sorted(f), dtype=np.intp) for f in folds]


def oof_scores(
    x: FloatArray,
    labels: BoolArray,
    features: Sequence[str],
    *,
    folds: int = 5,
    repeats: int = 10,
    l2: float = 1.0,
    seed: int = 7,
    edge_model: str = "",
) -> FloatArray | None:
    """Mean out-of-fold score per row over ``repeats`` stratified ``folds``-fold splits;
    None when the labels hold fewer than two of a class (nothing to fit)."""
    minority = int(min(labels.sum(), (~labels).sum()))
    if minority < 2:
        return None
    k = min(folds, minority)
    rng = np.random.default_rng(seed)
    total = np.zeros(len(labels))
    for _ in range(repeats):
        for test in stratified_folds(labels, k, rng):
            train = np.setdiff1d(np.arange(len(labels)), test)
            model = fit(x[train], labels[train], edge_model=edge_model, features=features, l2=l2)
            total[test] += batch_scores(model, x[test])
    result: FloatArray = total / repeats
    return result


def batch_scores(model: VerifierModel, x: FloatArray) -> FloatArray:
    """``model.score`` over the rows of ``x`` with numpy (the same numbers, faster offline)."""
    columns = [FEATURE_NAMES.index(f) for f in model.features]
    coef = np.asarray(model.weights) / np.asarray(model.scale)
    intercept = model.bias - float(coef @ np.asarray(model.mean))
    z = np.einsum("ij,j->i", x[:, columns], coef) + intercept
    result: FloatArray = 1.0 / (1.0 + np.exp(-np.clip(z, -700, 700)))
    return result


@dataclass(frozen=True)
class Frontier:
    """e2e accuracy after sending the ``k`` lowest-scored requests to the cloud, k = 0…n."""

    share: FloatArray
    e2e: FloatArray

    def at(self, share: float) -> float:
        k = int(round(share * (len(self.share) - 1)))
        return float(self.e2e[k])

    def share_to_reach(self, target: float) -> float:
        hit = np.flatnonzero(self.e2e >= target - 1e-12)
        return float(self.share[hit[0]]) if len(hit) else float("nan")

    def best(self) -> tuple[float, float]:
        """(highest e2e accuracy, the lowest cloud share reaching it)."""
        top = float(self.e2e.max())
        return top, self.share_to_reach(top)


def _from_order(order: NDArray[np.intp], edge_ok: BoolArray, cloud_ok: BoolArray) -> Frontier:
    n = len(order)
    gain = cloud_ok[order].astype(float) - edge_ok[order].astype(float)
    e2e = (edge_ok.sum() + np.concatenate([[0.0], np.cumsum(gain)])) / n
    return Frontier(np.arange(n + 1) / n, e2e)


def frontier(
    scores: FloatArray, edge_ok: BoolArray, cloud_ok: BoolArray, *, seed: int = 0
) -> Frontier:
    """Lowest score to the cloud first (ties in a seeded random order)."""
    tiebreak = np.random.default_rng(seed).random(len(scores))
    return _from_order(np.lexsort((tiebreak, scores)), edge_ok, cloud_ok)


def oracle_frontier(edge_ok: BoolArray, cloud_ok: BoolArray) -> Frontier:
    """Cloud first where only it is right, then where both are wrong, then the rest."""
    priority = np.where(~edge_ok & cloud_ok, 0, np.where(~edge_ok, 1, np.where(cloud_ok, 2, 3)))
    return _from_order(np.argsort(priority, kind="stable"), edge_ok, cloud_ok)


def random_frontier(edge_ok: BoolArray, cloud_ok: BoolArray) -> Frontier:
    """The expected e2e accuracy of a random choice of requests."""
    n = len(edge_ok)
    share = np.arange(n + 1) / n
    return Frontier(share, edge_ok.mean() + share * (cloud_ok.mean() - edge_ok.mean()))


def mean_frontier(curves: Sequence[Frontier]) -> Frontier:
    return Frontier(curves[0].share, np.mean([c.e2e for c in curves], axis=0))
